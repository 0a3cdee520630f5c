// Test helper: the golden .npy arrays of ../shared/golden as the parity tests use them: the
// shape and the raw bytes, or nothing when the case left the file out.
#ifndef VCAP_TESTS_MEDIA_GOLDEN_NPY_H_
#define VCAP_TESTS_MEDIA_GOLDEN_NPY_H_

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/npy.h"

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

// nullopt when the file is missing or not a C-order .npy (parsed by io::read_npy).
inline std::optional<GoldenArray> read_golden_npy(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  Result<io::NpyArray> array = io::read_npy(path);
  if (!array.ok() || array->fortran_order) return std::nullopt;
  const auto* bytes = reinterpret_cast<const uint8_t*>(array->data.data());
  return GoldenArray{array->descr, array->shape, {bytes, bytes + array->data.size()}};
}

}  // namespace vcap::testing

#endif  // VCAP_TESTS_MEDIA_GOLDEN_NPY_H_
