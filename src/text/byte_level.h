// The ByteLevel byte <-> character table of GPT-2 style tokenizers (spec/QWEN2VL.md §4.3).
//
// Every byte value b maps to one printable code point U(b): bytes 33..126, 161..172 and
// 174..255 map to themselves; the 68 others (0..32, 127..160, 173), in increasing order, map to
// U+0100..U+0143. Vocabulary entries are written in these characters, so "Ġ" (U+0120) is a
// space and "Ċ" (U+010A) a line feed.
#ifndef VCAP_TEXT_BYTE_LEVEL_H_
#define VCAP_TEXT_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vcap::text {

// U(b).
char32_t byte_to_char(uint8_t byte);

// The byte b with U(b) == ch, or nullopt when ch is not in the table.
std::optional<uint8_t> char_to_byte(char32_t ch);

// The UTF-8 text of the table characters of every byte of `bytes` (what a vocabulary key looks
// like for those bytes).
std::string bytes_to_table_text(std::string_view bytes);

// The bytes a vocabulary key stands for: when every character of `token` (valid UTF-8) is in the
// table, the mapped bytes; otherwise `token` itself. This is the HF ByteLevel decoder rule, which
// lets added tokens such as "<|im_end|>" or ones containing a plain space decode to their text.
std::string table_text_to_bytes(std::string_view token);

}  // namespace vcap::text

#endif  // VCAP_TEXT_BYTE_LEVEL_H_
