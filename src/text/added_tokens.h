// Finds added tokens (<|im_start|>, <|video_pad|>, ...) in raw text, before normalisation and
// pre-tokenisation (spec/QWEN2VL.md §4.4 step 1).
//
// Matching is leftmost-longest, as HF's Aho-Corasick split: the match that starts first wins,
// and among matches starting at the same byte the longest. Special tokens typed in user text are
// therefore recognised as specials (HF's default split_special_tokens = false).
#ifndef VCAP_TEXT_ADDED_TOKENS_H_
#define VCAP_TEXT_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vcap::text {

struct AddedToken {
  std::string content;  // exact text, UTF-8, not empty
  int32_t id = 0;
  bool special = false;  // dropped by decode(..., skip_special_tokens = true)
};

class AddedTokenMatcher {
 public:
  struct Match {
    std::size_t offset;  // byte offset in the searched text
    std::size_t length;  // bytes
    int32_t id;
  };

  AddedTokenMatcher() = default;
  // REQUIRES: every content is non-empty.
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // The leftmost-longest match that starts at or after byte `from` of `text`, if any.
  std::optional<Match> find(std::string_view text, std::size_t from) const;

 private:
  struct Entry {
    std::string content;
    int32_t id;
  };
  std::vector<Entry> entries_;          // longest first
  std::array<bool, 256> first_byte_{};  // whether some token starts with this byte
};

}  // namespace vcap::text

#endif  // VCAP_TEXT_ADDED_TOKENS_H_
