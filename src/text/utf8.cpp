#include "text/utf8.h"

#include <cstdint>

namespace vcap::text {
namespace {

// Allowed range of the second byte for each lead byte (Unicode Table 3-7, "Well-Formed UTF-8
// Byte Sequences"); all later bytes are 0x80..0xBF.
struct LeadRule {
  int length;  // total bytes; 0 = the byte cannot start a sequence
  uint8_t second_lo;
  uint8_t second_hi;
};

LeadRule lead_rule(uint8_t lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead < 0xC2) return {0, 0, 0};
  if (lead < 0xE0) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (lead < 0xF0) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};  // excludes overlongs
  if (lead < 0xF4) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};  // excludes > U+10FFFF
  return {0, 0, 0};
}

// Number of bytes, starting at pos, that form a valid prefix of a sequence (at least 1 for an
// invalid lead byte), and whether that prefix is a complete sequence.
std::size_t maximal_prefix(std::string_view bytes, std::size_t pos, bool& complete) {
  const auto lead = static_cast<uint8_t>(bytes[pos]);
  const LeadRule rule = lead_rule(lead);
  complete = false;
  if (rule.length == 0) return 1;
  if (rule.length == 1) {
    complete = true;
    return 1;
  }
  std::size_t taken = 1;
  for (int k = 1; k < rule.length; ++k) {
    if (pos + taken >= bytes.size()) return taken;
    const auto b = static_cast<uint8_t>(bytes[pos + taken]);
    const uint8_t lo = k == 1 ? rule.second_lo : 0x80;
    const uint8_t hi = k == 1 ? rule.second_hi : 0xBF;
    if (b < lo || b > hi) return taken;
    ++taken;
  }
  complete = true;
  return taken;
}

}  // namespace

std::size_t valid_sequence_length(std::string_view bytes, std::size_t pos) {
  bool complete = false;
  const std::size_t n = maximal_prefix(bytes, pos, complete);
  return complete ? n : 0;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const std::size_t n = valid_sequence_length(bytes, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string repair_utf8(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    bool complete = false;
    const std::size_t n = maximal_prefix(bytes, pos, complete);
    if (complete) {
      out.append(bytes.substr(pos, n));
    } else {
      out.append(kReplacementUtf8);
    }
    pos += n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t decode_sequence(std::string_view bytes, std::size_t pos, std::size_t length) {
  const auto byte = [&](std::size_t k) {
    return static_cast<char32_t>(static_cast<uint8_t>(bytes[pos + k]));
  };
  switch (length) {
    case 1:
      return byte(0);
    case 2:
      return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3:
      return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
             (byte(3) & 0x3F);
  }
}

}  // namespace vcap::text
