// Helpers shared by the text tests: the real Qwen2 tokenizer (loaded once per test binary),
// file reading, and a minimal reader for the little-endian int64 .npy files of the golden cases
// (kept here so that text tests do not depend on the io module).
#ifndef VCAP_TESTS_TEXT_TEXT_TEST_UTIL_H_
#define VCAP_TESTS_TEXT_TEXT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace vcap::text::testing {

inline std::filesystem::path test_data_dir() { return VCAP_TEST_DATA_DIR; }

inline std::filesystem::path qwen_tokenizer_json() {
  return test_data_dir() / "qwen2vl" / "tokenizer.json";
}

// The Qwen2 tokenizer of tests/data/qwen2vl; loading it takes a while under ASan, so every test
// of a binary shares one immutable instance.
inline const Tokenizer& qwen_tokenizer() {
  static const Tokenizer tokenizer = [] {
    Result<Tokenizer> loaded = Tokenizer::load(qwen_tokenizer_json());
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status().to_string();
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return tokenizer;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Lines of a text file, without their '\n'.
inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A NumPy v1/v2 '<i8' C-order array: its shape and values.
struct Int64Array {
  std::vector<int64_t> shape;
  std::vector<int64_t> values;
};

inline Int64Array read_int64_npy(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  Int64Array array;
  if (bytes.size() < 12 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    ADD_FAILURE() << path << ": not a .npy file";
    return array;
  }
  const bool v1 = bytes[6] == 1;
  const std::size_t header_length =
      v1 ? static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8)
         : static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8) |
               (static_cast<uint8_t>(bytes[10]) << 16) |
               (static_cast<std::size_t>(static_cast<uint8_t>(bytes[11])) << 24);
  const std::size_t data_start = (v1 ? 10 : 12) + header_length;
  const std::string header = bytes.substr(v1 ? 10 : 12, header_length);
  EXPECT_NE(header.find("'descr': '<i8'"), std::string::npos) << path << ": " << header;
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << path << ": " << header;
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::size_t count = 1;
  for (std::size_t pos = open + 1; pos < close;) {
    const std::size_t comma = std::min(header.find(',', pos), close);
    const std::string dim = header.substr(pos, comma - pos);
    if (dim.find_first_of("0123456789") != std::string::npos) {
      array.shape.push_back(std::stoll(dim));
      count *= static_cast<std::size_t>(array.shape.back());
    }
    pos = comma + 1;
  }
  EXPECT_EQ(bytes.size(), data_start + count * 8) << path;
  array.values.resize(count);
  if (bytes.size() >= data_start + count * 8) {
    std::memcpy(array.values.data(), bytes.data() + data_start, count * 8);
  }
  return array;
}

}  // namespace vcap::text::testing

#endif  // VCAP_TESTS_TEXT_TEXT_TEST_UTIL_H_
