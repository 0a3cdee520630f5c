// Reads a Hugging Face tokenizer.json into the parts vcap's tokenizer is made of, and refuses
// every configuration it does not implement, so that a different tokenizer fails loudly at load
// instead of producing wrong ids.
//
// Accepted (the Qwen2 family, spec/QWEN2VL.md §4.1):
//   normalizer     null or NFC
//   pre_tokenizer  Sequence[Split(pattern Regex|String, behavior Isolated, invert false),
//                            ByteLevel(add_prefix_space false, use_regex false)]
//   model          BPE without dropout, byte_fallback, continuing_subword_prefix or
//                  end_of_word_suffix; merges as "A B" strings or ["A", "B"] arrays;
//                  ignore_merges true or false
//   post_processor null or ByteLevel (adds no tokens);  decoder ByteLevel
//   added_tokens   lstrip/rstrip/single_word false, normalized false
//   truncation, padding  null
#ifndef VCAP_TEXT_TOKENIZER_JSON_H_
#define VCAP_TEXT_TOKENIZER_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "text/added_tokens.h"
#include "text/bpe_model.h"

namespace vcap::text {

// Token ids above this are refused: tables indexed by id are allocated up front.
inline constexpr int32_t kMaxTokenId = (1 << 24) - 1;

struct TokenizerParts {
  bool nfc = false;               // normalizer is NFC (else none)
  std::string split_pattern;      // the Split pre-tokenizer's pattern, as written
  bool split_pattern_is_literal;  // {"String": ...} rather than {"Regex": ...}
  std::vector<AddedToken> added_tokens;
  BpeModel model;
};

// Parses and checks `json_text` (the content of a tokenizer.json). Errors: corruption when it
// is not JSON, invalid_argument when a field has the wrong type or an inconsistent value,
// unsupported for a valid configuration vcap does not implement. Messages name the field
// ("model.byte_fallback: true is not supported").
Result<TokenizerParts> parse_tokenizer_json(std::string_view json_text);

}  // namespace vcap::text

#endif  // VCAP_TEXT_TOKENIZER_JSON_H_
