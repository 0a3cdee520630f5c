#include "text/added_tokens.h"

#include <algorithm>

namespace vcap::text {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  for (const AddedToken& token : tokens) {
    entries_.push_back({token.content, token.id});
    first_byte_[static_cast<uint8_t>(token.content[0])] = true;
  }
  // Longest first, so the first entry that matches at a position is the longest one there.
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.content.size() > b.content.size();
  });
}

std::optional<AddedTokenMatcher::Match> AddedTokenMatcher::find(std::string_view text,
                                                                std::size_t from) const {
  if (entries_.empty()) return std::nullopt;
  for (std::size_t pos = from; pos < text.size(); ++pos) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) continue;
    const std::string_view rest = text.substr(pos);
    for (const Entry& entry : entries_) {
      if (rest.starts_with(entry.content)) return Match{pos, entry.content.size(), entry.id};
    }
  }
  return std::nullopt;
}

}  // namespace vcap::text
