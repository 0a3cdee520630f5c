// Helpers for building safetensors images by hand in tests.
#ifndef VCAP_TESTS_IO_SAFETENSORS_TEST_UTIL_H_
#define VCAP_TESTS_IO_SAFETENSORS_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vcap::testing {

// 8-byte little-endian length `declared_length` (default: the header's size), the header
// text, then `data_bytes` bytes of value i % 251.
inline std::string safetensors_image(std::string_view header, size_t data_bytes,
                                     uint64_t declared_length = UINT64_MAX) {
  const uint64_t length = declared_length == UINT64_MAX ? header.size() : declared_length;
  std::string image;
  for (int i = 0; i < 8; ++i) image.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  image += header;
  for (size_t i = 0; i < data_bytes; ++i) image.push_back(static_cast<char>(i % 251));
  return image;
}

inline std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace vcap::testing

#endif  // VCAP_TESTS_IO_SAFETENSORS_TEST_UTIL_H_
