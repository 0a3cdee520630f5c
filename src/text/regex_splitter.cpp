#include "text/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

namespace vcap::text {
namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// Bytes in the UTF-8 sequence led by `lead` (the subject is valid UTF-8).
std::size_t utf8_char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

void RegexSplitter::CodeDeleter::operator()(void* code) const { pcre2_code_free(as_code(code)); }

std::string rewrite_whitespace_escapes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  std::size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c != '\\' || i + 1 == pattern.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    const char next = pattern[i + 1];
    if (next == 's') {
      out += "\\p{White_Space}";
    } else if (next == 'S') {
      out += "\\P{White_Space}";
    } else if (next == 'Q') {
      // A quoted literal runs to \E (or the end): copy it untouched.
      const std::size_t end = pattern.find("\\E", i + 2);
      const std::size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
      out.append(pattern.substr(i, stop - i));
      i = stop;
      continue;
    } else {
      out.push_back(c);
      out.push_back(next);
    }
    i += 2;
  }
  return out;
}

Result<RegexSplitter> RegexSplitter::compile(std::string_view pattern, bool literal) {
  const std::string source = literal ? std::string(pattern) : rewrite_whitespace_escapes(pattern);
  // PCRE2_LITERAL allows only a few other options (UCP and NEVER_BACKSLASH_C are not among them,
  // and mean nothing for a literal anyway).
  const uint32_t options =
      literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return Status::invalid_argument("pre_tokenizer regex does not compile at offset " +
                                    std::to_string(error_offset) + ": " +
                                    reinterpret_cast<const char*>(message));
  }
  std::unique_ptr<void, CodeDeleter> owned(code);
  // JIT is an optimisation only: without it (unsupported CPU, no executable memory) the
  // interpreter gives the same matches.
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return RegexSplitter(std::move(owned), jit);
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  if (text.empty()) return;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create(1, nullptr));
  VCAP_CHECK(match != nullptr, "pcre2_match_data_create failed");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t gap_start = 0;  // start of the text not yet emitted
  std::size_t search = 0;     // where the next search starts
  while (search < text.size()) {
    // NO_UTF_CHECK: the caller guarantees valid UTF-8, and the check would rescan the whole
    // subject on every call (quadratic time).
    const int rc = pcre2_match(as_code(code_.get()), subject, text.size(), search,
                               PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // Match or depth limit: keep what is left as one piece rather than lose text.
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (begin >= text.size() || begin < gap_start) break;
    if (end <= begin) {
      // Empty match: step over one character (it stays in the gap), as Rust's find_iter does.
      search = begin + utf8_char_length(static_cast<unsigned char>(text[begin]));
      continue;
    }
    if (begin > gap_start) pieces.push_back(text.substr(gap_start, begin - gap_start));
    pieces.push_back(text.substr(begin, end - begin));
    gap_start = end;
    search = end;
  }
  if (gap_start < text.size()) pieces.push_back(text.substr(gap_start));
}

}  // namespace vcap::text
