// Splits text into pre-tokenizer pieces with a PCRE2 regex (HF `Split` with behavior
// "Isolated", spec/QWEN2VL.md §4.2): every match is one piece and so is every stretch of text
// between two matches; empty pieces are dropped.
//
// The pattern is compiled with PCRE2_UTF | PCRE2_UCP so that \p{L}, \p{N} and \s are Unicode
// aware, as in the Oniguruma engine Hugging Face tokenizers uses, and JIT-compiled when the
// platform allows. \s and \S are first rewritten to \p{White_Space} and \P{White_Space}:
// Oniguruma's (and Python `regex`'s) \s is exactly the Unicode White_Space property, while
// PCRE2's \s also matches U+180E (spec/QWEN2VL.md §16.3 item 8).
//
// Thread safety: split() is const and may run concurrently (each call has its own match data).
#ifndef VCAP_TEXT_REGEX_SPLITTER_H_
#define VCAP_TEXT_REGEX_SPLITTER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vcap::text {

class RegexSplitter {
 public:
  // Compiles `pattern` (regex syntax of tokenizer.json). When `literal` is true the pattern is a
  // plain string to match as is (the {"String": ...} form). Fails with invalid_argument naming
  // the offset and PCRE2's reason when the pattern does not compile.
  static Result<RegexSplitter> compile(std::string_view pattern, bool literal);

  // Appends the pieces of `text` to `pieces`, in order; they are views into `text`.
  // REQUIRES: `text` is valid UTF-8. If PCRE2 gives up on a match (its match or depth limit, only
  // reachable with pathological multi-megabyte runs), the rest of `text` becomes one piece.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

  // Whether the pattern runs JIT-compiled (false means the slower interpreter is used).
  bool jit() const { return jit_; }

 private:
  struct CodeDeleter {
    void operator()(void* code) const;
  };
  RegexSplitter(std::unique_ptr<void, CodeDeleter> code, bool jit)
      : code_(std::move(code)), jit_(jit) {}

  std::unique_ptr<void, CodeDeleter> code_;  // pcre2_code_8; void keeps pcre2.h out of the header
  bool jit_ = false;
};

// `pattern` with every \s escape replaced by \p{White_Space} and every \S by \P{White_Space},
// inside and outside character classes; escaped backslashes and \Q...\E quotes are left alone.
// Exposed for tests.
std::string rewrite_whitespace_escapes(std::string_view pattern);

}  // namespace vcap::text

#endif  // VCAP_TEXT_REGEX_SPLITTER_H_
