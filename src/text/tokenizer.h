// Tokenizer: the Qwen2 byte-level BPE tokenizer, read from a Hugging Face tokenizer.json and
// bit-exact with HF `tokenizers` (spec/QWEN2VL.md §4).
//
// encode(): added tokens are split off the raw text first (leftmost-longest), each stretch in
// between is NFC-normalised (utf8proc), split by the pre-tokenizer regex (PCRE2), mapped to
// byte-level characters and merged by BPE rank. No BOS/EOS is added. decode(): ids to byte-level
// strings to bytes, then UTF-8 with one U+FFFD per maximal invalid subsequence (Python's
// bytes.decode("utf-8", errors="replace")).
//
// Thread safety: a loaded Tokenizer is immutable; every const method may run concurrently.
// Copies are cheap and share the same tables.
#ifndef VCAP_TEXT_TOKENIZER_H_
#define VCAP_TEXT_TOKENIZER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vcap::text {

class Tokenizer {
 public:
  // Loads `path`: a tokenizer.json file, or a model directory that contains one. Errors
  // (not_found, io_error, corruption, invalid_argument, unsupported) name the file; a
  // configuration vcap does not implement (another normalizer, byte_fallback, a post-processor
  // that adds tokens, ...) is refused rather than mis-tokenised (see text/tokenizer_json.h).
  static Result<Tokenizer> load(const std::filesystem::path& path);

  // The same from the content of a tokenizer.json held in memory.
  static Result<Tokenizer> load_from_json_text(std::string_view json_text);

  // The token ids of `text`. Text that is not valid UTF-8 (which HF's Python API cannot even
  // receive) is first repaired with one U+FFFD per maximal invalid subsequence, so every input
  // encodes, as if the caller had decoded its bytes with errors="replace".
  std::vector<int32_t> encode(std::string_view text) const;

  // The text of `ids`. With skip_special_tokens, added tokens marked special are left out. Ids
  // that name no token (negative, or beyond the vocabulary, like the unused embedding rows
  // 151657.. of Qwen2-VL) are skipped, as HF does.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // The id of a token, given as the added token's text ("<|im_end|>") or as the vocabulary key
  // in byte-level characters ("Ġthe" for " the"). Added tokens are looked up first.
  std::optional<int32_t> token_to_id(std::string_view token) const;

  // One more than the largest id of the vocabulary and added tokens: 151657 for Qwen2-VL (the
  // model's embedding table may be larger).
  int32_t vocab_size() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  std::shared_ptr<const Impl> impl_;  // never null
};

}  // namespace vcap::text

#endif  // VCAP_TEXT_TOKENIZER_H_
