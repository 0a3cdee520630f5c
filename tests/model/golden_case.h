// Test helpers for the golden cases (../shared/golden, small copies in tests/data/model):
// locating a case, reading its .npy arrays (v1.0, little-endian <f4 / <i8, C order) and JSON.
#ifndef VCAP_TESTS_MODEL_GOLDEN_CASE_H_
#define VCAP_TESTS_MODEL_GOLDEN_CASE_H_

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/rope_index.h"

namespace vcap::model::testing {

inline std::filesystem::path shared_golden_dir() {
  return std::filesystem::path(VCAP_SHARED_DIR) / "golden";
}
inline std::filesystem::path repo_golden_dir() {
  return std::filesystem::path(VCAP_TEST_DATA_DIR) / "model";
}
inline bool have_shared() { return std::filesystem::exists(shared_golden_dir() / "cases.json"); }

// The directory holding `file` of case `name`: tests/data/model/<name> first, then
// ../shared/golden/cases/<name>; nullopt when neither has it.
inline std::optional<std::filesystem::path> find_case_file(const std::string& name,
                                                           const std::string& file) {
  for (const auto& dir : {repo_golden_dir() / name, shared_golden_dir() / "cases" / name}) {
    if (std::filesystem::exists(dir / file)) return dir / file;
  }
  return std::nullopt;
}

struct NpyArray {
  std::vector<int64_t> shape;
  std::string descr;        // "<f4", "<i8"
  std::vector<char> bytes;  // raw data

  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  template <class T>
  std::vector<T> as() const {
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
  }
};

// Reads a NumPy v1 file; an empty shape and descr on any error (tests then fail loudly).
inline NpyArray read_npy(const std::filesystem::path& path) {
  NpyArray a;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() < 10 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0) return a;
  const size_t header_len = static_cast<unsigned char>(all[8]) |
                            (static_cast<size_t>(static_cast<unsigned char>(all[9])) << 8);
  const std::string header(all.data() + 10, header_len);
  const auto descr_at = header.find("'descr': '");
  const auto shape_at = header.find("'shape': (");
  if (descr_at == std::string::npos || shape_at == std::string::npos) return a;
  a.descr = header.substr(descr_at + 10, 3);
  std::string dims = header.substr(shape_at + 10, header.find(')', shape_at) - shape_at - 10);
  size_t pos = 0;
  while (pos < dims.size()) {
    const size_t comma = dims.find(',', pos);
    const std::string part = dims.substr(pos, comma == std::string::npos ? dims.npos : comma - pos);
    if (part.find_first_of("0123456789") != std::string::npos) a.shape.push_back(std::stoll(part));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  a.bytes.assign(all.begin() + 10 + static_cast<std::ptrdiff_t>(header_len), all.end());
  return a;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline std::vector<TokenId> to_token_ids(const std::vector<int64_t>& ids) {
  return std::vector<TokenId>(ids.begin(), ids.end());
}

inline std::vector<VisionGrid> grids_from_npy(const NpyArray& grid) {
  const std::vector<int64_t> g = grid.as<int64_t>();
  std::vector<VisionGrid> grids;
  for (size_t i = 0; i + 2 < g.size(); i += 3) grids.push_back({g[i], g[i + 1], g[i + 2]});
  return grids;
}

}  // namespace vcap::model::testing

#endif  // VCAP_TESTS_MODEL_GOLDEN_CASE_H_
