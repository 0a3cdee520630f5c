// libFuzzer target for the tokenizer. The first input byte picks what the rest is:
//   0: the text of a tokenizer.json (load_from_json_text must return a Status, never crash);
//      when it loads, the result also encodes and decodes a fixed sample;
//   1: text to encode with the real Qwen2 tokenizer (any bytes: invalid UTF-8 is repaired), then
//      decode, which must give valid UTF-8 and re-encode without crashing;
//   2: little-endian int32 ids to decode (out-of-range ids are skipped).
// The real tokenizer is tests/data/qwen2vl/tokenizer.json of this source tree, or
// $VCAP_TOKENIZER_JSON. Build and run: see README.md, "Fuzzing".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace {

using vcap::text::Tokenizer;

const Tokenizer& qwen_tokenizer() {
  static const Tokenizer loaded = [] {
    std::filesystem::path path = std::filesystem::path(__FILE__).parent_path().parent_path() /
                                 "tests" / "data" / "qwen2vl" / "tokenizer.json";
    if (const char* env = std::getenv("VCAP_TOKENIZER_JSON")) path = env;
    auto result = Tokenizer::load(path);
    VCAP_CHECK(result.ok(), result.status().to_string().c_str());
    return std::move(result).value();
  }();
  return loaded;
}

void exercise(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<int32_t> ids = tokenizer.encode(text);
  for (const bool skip : {false, true}) {
    const std::string decoded = tokenizer.decode(ids, skip);
    VCAP_CHECK(vcap::text::is_valid_utf8(decoded), "decode returned invalid UTF-8");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto loaded = Tokenizer::load_from_json_text(rest);
      if (loaded.ok()) exercise(*loaded, "Hello <|im_end|> wörld  \n\t 123 !!");
      break;
    }
    case 1: {
      const Tokenizer& tokenizer = qwen_tokenizer();
      const std::vector<int32_t> ids = tokenizer.encode(rest);
      const std::string decoded = tokenizer.decode(ids, false);
      VCAP_CHECK(vcap::text::is_valid_utf8(decoded), "decode returned invalid UTF-8");
      // decode(encode(x)) is x repaired and NFC-normalised piece by piece, which encodes to the
      // same ids again.
      VCAP_CHECK(tokenizer.encode(decoded) == ids, "re-encoding the decoded text changed the ids");
      break;
    }
    default: {
      std::vector<int32_t> ids(rest.size() / 4);
      if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
      for (const bool skip : {false, true}) {
        const std::string decoded = qwen_tokenizer().decode(ids, skip);
        VCAP_CHECK(vcap::text::is_valid_utf8(decoded), "decode returned invalid UTF-8");
      }
      break;
    }
  }
  return 0;
}
