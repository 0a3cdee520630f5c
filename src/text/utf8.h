// UTF-8 helpers for the tokenizer: validation, repair and code point encoding.
//
// Repair follows the Unicode "substitution of maximal subparts" practice, which is what Python's
// bytes.decode("utf-8", errors="replace"), Rust's String::from_utf8_lossy and the WHATWG
// TextDecoder all do: every maximal invalid subsequence becomes exactly one U+FFFD. Decoded text
// (spec/QWEN2VL.md §4.5 step 3) must match Python byte for byte, so this matters when a caption
// stops in the middle of a multi-byte character.
#ifndef VCAP_TEXT_UTF8_H_
#define VCAP_TEXT_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace vcap::text {

// The replacement character U+FFFD encoded as UTF-8.
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Length in bytes of the valid UTF-8 sequence that starts at bytes[pos], or 0 when the bytes
// there do not start a valid, complete sequence. Overlongs, surrogates (U+D800..U+DFFF) and
// values above U+10FFFF are invalid. REQUIRES: pos < bytes.size().
std::size_t valid_sequence_length(std::string_view bytes, std::size_t pos);

// True when `bytes` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view bytes);

// `bytes` with every maximal invalid subsequence replaced by one U+FFFD; valid input is
// returned unchanged.
std::string repair_utf8(std::string_view bytes);

// Appends the UTF-8 encoding of `code_point`. REQUIRES: a Unicode scalar value.
void append_utf8(std::string& out, char32_t code_point);

// Decodes the code point of the valid sequence of `length` bytes at bytes[pos].
// REQUIRES: length == valid_sequence_length(bytes, pos) and length > 0.
char32_t decode_sequence(std::string_view bytes, std::size_t pos, std::size_t length);

}  // namespace vcap::text

#endif  // VCAP_TEXT_UTF8_H_
