// The real Qwen2 tokenizer on the examples of spec/QWEN2VL.md §4.4-§4.5 and on edge cases.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include "text/byte_level.h"
#include "text_test_util.h"

namespace vcap::text {
namespace {

using testing::qwen_tokenizer;
using Ids = std::vector<int32_t>;

TEST(Tokenizer, EncodesTheSpecExamples) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  EXPECT_EQ(tokenizer.encode("Hello world"), (Ids{9707, 1879}));
  EXPECT_EQ(tokenizer.encode(" Hello world"), (Ids{21927, 1879}));
  EXPECT_EQ(tokenizer.encode("Describe the video in detail."),
            (Ids{74785, 279, 2766, 304, 7716, 13}));
  EXPECT_EQ(tokenizer.encode("Describe the video in details"), (Ids{74785, 279, 2766, 304, 3565}));
  EXPECT_EQ(tokenizer.encode("The video shows a man   walking.\n\nIt's 2024!"),
            (Ids{785, 2766, 4933, 264, 883, 256, 11435, 382, 2132, 594, 220, 17, 15, 17, 19, 0}));
  EXPECT_EQ(tokenizer.encode(""), Ids{});
}

// Expected ids come from the reference semantics (Python `regex`, whose \s is White_Space,
// like HF's Oniguruma), on inputs where engines with another \s would split differently.
TEST(Tokenizer, EncodesUnusualWhitespaceAndContractionsLikeTheReference) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  EXPECT_EQ(tokenizer.encode("a \xc2\x85\xc2\x85"
                             "b"),
            (Ids{64, 2139, 227, 126, 227, 65}));
  EXPECT_EQ(tokenizer.encode("!\xe1\xa0\x8e\xe1\xa0\x8e"), (Ids{0, 123970, 236, 123970, 236}));
  EXPECT_EQ(tokenizer.encode("x \xef\xbb\xbf\xef\xbb\xbfy"), (Ids{87, 75780, 3225, 88}));
  EXPECT_EQ(tokenizer.encode("a\x1c\x1c b"), (Ids{64, 216, 216, 293}));
  EXPECT_EQ(tokenizer.encode("IT'S we'LL they'Re"), (Ids{952, 13272, 582, 6, 4086, 807, 49427}));
  EXPECT_EQ(tokenizer.encode("don'\xc5\xbf"), (Ids{15007, 6, 144815}));  // (?i) 's matches 'ſ
}

TEST(Tokenizer, NormalizesToNfcBeforeSplitting) {
  // "e" + U+0301 composes to "é", one token.
  EXPECT_EQ(qwen_tokenizer().encode("e\xcc\x81"), (Ids{963}));
  EXPECT_EQ(qwen_tokenizer().encode("\xc3\xa9"), (Ids{963}));
}

TEST(Tokenizer, SplitsSpecialTokensOffRawTextLongestFirst) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  EXPECT_EQ(tokenizer.encode("Hello<|im_end|>world<|endoftext|>"),
            (Ids{9707, 151645, 14615, 151643}));
  // A broken special token is plain text; the real one right after it is still found.
  EXPECT_EQ(tokenizer.encode("<|im_start|<|im_end|>>"), (Ids{27, 91, 318, 4906, 91, 151645, 29}));
}

TEST(Tokenizer, RepairsInvalidUtf8InputBeforeEncoding) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  // Each maximal invalid subsequence becomes U+FFFD, exactly as if the caller had decoded with
  // errors="replace".
  EXPECT_EQ(tokenizer.encode("ab\xff"
                             "cd\xe4\xbd"),
            tokenizer.encode("ab\xef\xbf\xbd"
                             "cd\xef\xbf\xbd"));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("\xc3\x28"), false), "\xef\xbf\xbd(");
}

TEST(Tokenizer, DecodesSpecialTokensUnlessSkipped) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  const Ids ids = {151644, 77091, 198, 9707, 1879, 151645};
  EXPECT_EQ(tokenizer.decode(ids, false), "<|im_start|>assistant\nHello world<|im_end|>");
  EXPECT_EQ(tokenizer.decode(ids, true), "assistant\nHello world");
}

TEST(Tokenizer, DecodeReplacesACharacterCutByTheEndOfGeneration) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  // The four single-byte tokens of U+1F389 (🎉); generation may stop after any of them.
  Ids ids;
  for (const char byte : std::string("\xf0\x9f\x8e\x89")) {
    const std::optional<int32_t> id =
        tokenizer.token_to_id(bytes_to_table_text(std::string(1, byte)));
    ASSERT_TRUE(id.has_value());
    ids.push_back(*id);
  }
  EXPECT_EQ(tokenizer.decode(ids, true), "\xf0\x9f\x8e\x89");
  EXPECT_EQ(tokenizer.decode(Ids(ids.begin(), ids.end() - 1), true), "\xef\xbf\xbd");
  EXPECT_EQ(tokenizer.decode(Ids{ids[0], 9707}, true), "\xef\xbf\xbdHello");
}

TEST(Tokenizer, DecodeSkipsIdsThatNameNoToken) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  EXPECT_EQ(tokenizer.decode(Ids{9707, -1, 151657, 151935, 1 << 30, 1879}, false), "Hello world");
}

TEST(Tokenizer, LooksUpTokensAndReportsTheVocabularySize) {
  const Tokenizer& tokenizer = qwen_tokenizer();
  EXPECT_EQ(tokenizer.token_to_id("<|video_pad|>"), 151656);
  EXPECT_EQ(tokenizer.token_to_id("<|im_end|>"), 151645);
  EXPECT_EQ(tokenizer.token_to_id("\xc4\xa0the"), 279);  // "Ġthe"
  EXPECT_EQ(tokenizer.token_to_id("no such token"), std::nullopt);
  EXPECT_EQ(tokenizer.vocab_size(), 151657);
}

TEST(Tokenizer, LoadsFromAModelDirectory) {
  Result<Tokenizer> tokenizer = Tokenizer::load(testing::test_data_dir() / "qwen2vl");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  EXPECT_EQ(tokenizer->encode("Hello world"), (Ids{9707, 1879}));
}

}  // namespace
}  // namespace vcap::text
