// Test helper: reads the golden .npy arrays (NumPy format 1.0/2.0, little-endian, C order) of
// ../shared/golden. Only what the parity tests need: the shape and the raw bytes.
// (A stand-in until every test reads arrays through one library reader.)
#ifndef VCAP_TESTS_MEDIA_GOLDEN_NPY_H_
#define VCAP_TESTS_MEDIA_GOLDEN_NPY_H_

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace vcap::testing {

struct GoldenArray {
  std::string descr;           // e.g. "|u1", "<f4", "<i8"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // the data, as stored

  template <typename T>
  std::vector<T> as() const {
    std::vector<T> values(bytes.size() / sizeof(T));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
    return values;
  }
};

// nullopt when the file is missing or not a C-order .npy.
inline std::optional<GoldenArray> read_golden_npy(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (text.size() < 12 || text.compare(0, 6, "\x93NUMPY") != 0) return std::nullopt;
  const bool v1 = text[6] == 1;
  const size_t length_bytes = v1 ? 2 : 4;
  size_t header_len = 0;
  for (size_t i = 0; i < length_bytes; ++i) {
    header_len |= static_cast<size_t>(static_cast<uint8_t>(text[8 + i])) << (8 * i);
  }
  const size_t data_start = 8 + length_bytes + header_len;
  const std::string header = text.substr(8 + length_bytes, header_len);
  if (header.find("'fortran_order': False") == std::string::npos) return std::nullopt;
  GoldenArray array;
  const size_t d = header.find("'descr': '") + 10;
  array.descr = header.substr(d, header.find('\'', d) - d);
  const size_t s = header.find("'shape': (") + 10;
  const std::string dims = header.substr(s, header.find(')', s) - s);
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t end = dims.find(',', pos);
    if (end == std::string::npos) end = dims.size();
    const std::string item = dims.substr(pos, end - pos);
    if (item.find_first_of("0123456789") != std::string::npos) array.shape.push_back(std::stoll(item));
    pos = end + 1;
  }
  array.bytes.assign(text.begin() + static_cast<std::ptrdiff_t>(data_start), text.end());
  return array;
}

}  // namespace vcap::testing

#endif  // VCAP_TESTS_MEDIA_GOLDEN_NPY_H_
