#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace vcap::text {
namespace {

constexpr bool maps_to_itself(int b) {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

constexpr std::array<char32_t, 256> make_byte_to_char() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    table[b] = maps_to_itself(b) ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

// The 68 bytes that do not map to themselves, in increasing order: U+0100 + k stands for the
// k-th of them.
constexpr std::array<uint8_t, 68> make_shifted_bytes() {
  std::array<uint8_t, 68> bytes{};
  int k = 0;
  for (int b = 0; b < 256; ++b) {
    if (!maps_to_itself(b)) bytes[k++] = static_cast<uint8_t>(b);
  }
  return bytes;
}

constexpr std::array<char32_t, 256> kByteToChar = make_byte_to_char();
constexpr std::array<uint8_t, 68> kShiftedBytes = make_shifted_bytes();
static_assert(kByteToChar[32] == 0x120 && kByteToChar[10] == 0x10A && kByteToChar[173] == 0x143);

}  // namespace

char32_t byte_to_char(uint8_t byte) { return kByteToChar[byte]; }

std::optional<uint8_t> char_to_byte(char32_t ch) {
  if (ch < 256 && maps_to_itself(static_cast<int>(ch))) return static_cast<uint8_t>(ch);
  if (ch >= 256 && ch < 256 + kShiftedBytes.size()) return kShiftedBytes[ch - 256];
  return std::nullopt;
}

std::string bytes_to_table_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, kByteToChar[static_cast<uint8_t>(c)]);
  return out;
}

std::string table_text_to_bytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    const std::size_t n = valid_sequence_length(token, pos);
    if (n == 0) return std::string(token);
    const std::optional<uint8_t> byte = char_to_byte(decode_sequence(token, pos, n));
    if (!byte) return std::string(token);
    out.push_back(static_cast<char>(*byte));
    pos += n;
  }
  return out;
}

}  // namespace vcap::text
