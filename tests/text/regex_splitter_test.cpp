#include "text/regex_splitter.h"

#include <gtest/gtest.h>

namespace vcap::text {
namespace {

// The Qwen2 pre-tokenizer pattern (spec/QWEN2VL.md §4.2).
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> split(std::string_view text, std::string_view pattern = kQwen2Pattern) {
  Result<RegexSplitter> splitter = RegexSplitter::compile(pattern, false);
  EXPECT_TRUE(splitter.ok()) << splitter.status().to_string();
  std::vector<std::string_view> pieces;
  splitter->split(text, pieces);
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(RegexSplitter, SplitsTheSpecExamples) {
  EXPECT_EQ(split("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split("It's 2024!"), (Pieces{"It", "'s", " ", "2", "0", "2", "4", "!"}));
  EXPECT_EQ(split("walking.\n\nIt"), (Pieces{"walking", ".\n\n", "It"}));
  EXPECT_EQ(split("IT'S we'LL"), (Pieces{"IT", "'S", " we", "'LL"}));
}

// Oniguruma (HF) and Python `regex` treat exactly the White_Space property as \s: U+0085 is
// whitespace, U+180E, U+FEFF and U+001C are not (PCRE2's own \s would take U+180E).
TEST(RegexSplitter, UsesWhiteSpacePropertyForBackslashS) {
  EXPECT_EQ(split("a \xc2\x85\xc2\x85"
                  "b"),
            (Pieces{"a", " \xc2\x85",
                    "\xc2\x85"
                    "b"}));
  EXPECT_EQ(split("!\xe1\xa0\x8e\xe1\xa0\x8e"), (Pieces{"!\xe1\xa0\x8e\xe1\xa0\x8e"}));
  EXPECT_EQ(split("a\x1c\x1c b"), (Pieces{"a", "\x1c\x1c", " b"}));
  EXPECT_EQ(split("\xe3\x80\x80\xe3\x80\x80x"), (Pieces{"\xe3\x80\x80", "\xe3\x80\x80x"}));
}

TEST(RegexSplitter, RewritesOnlyRealWhitespaceEscapes) {
  EXPECT_EQ(rewrite_whitespace_escapes(R"(\s+(?!\S)|[^\s\p{L}])"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}])");
  EXPECT_EQ(rewrite_whitespace_escapes(R"(\\s\Q\s\E\d)"), R"(\\s\Q\s\E\d)");
}

TEST(RegexSplitter, KeepsGapsBetweenMatchesAsPieces) {
  EXPECT_EQ(split("ab12cd3", "[0-9]+"), (Pieces{"ab", "12", "cd", "3"}));
  // A pattern that can match empty makes progress and loses no text.
  EXPECT_EQ(split("abc", "x*"), (Pieces{"abc"}));
}

TEST(RegexSplitter, LiteralPatternMatchesItsTextVerbatim) {
  Result<RegexSplitter> splitter = RegexSplitter::compile("a.b", true);
  ASSERT_TRUE(splitter.ok());
  std::vector<std::string_view> pieces;
  splitter->split("xa.bya_b", pieces);
  EXPECT_EQ(Pieces(pieces.begin(), pieces.end()), (Pieces{"x", "a.b", "ya_b"}));
}

TEST(RegexSplitter, ReportsAPatternThatDoesNotCompile) {
  Result<RegexSplitter> splitter = RegexSplitter::compile("(unclosed", false);
  ASSERT_FALSE(splitter.ok());
  EXPECT_EQ(splitter.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(splitter.status().message().find("offset"), std::string::npos);
}

}  // namespace
}  // namespace vcap::text
