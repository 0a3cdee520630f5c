#include "text/utf8.h"

#include <gtest/gtest.h>

namespace vcap::text {
namespace {

constexpr std::string_view kFffd = kReplacementUtf8;

// Expected values are Python's bytes.decode("utf-8", errors="replace").
TEST(RepairUtf8, ReplacesEachMaximalInvalidSubsequenceLikePython) {
  EXPECT_EQ(repair_utf8("\xe4\xbd"), std::string(kFffd));  // truncated 3-byte
  EXPECT_EQ(repair_utf8("a\x80"
                        "b"),
            "a" + std::string(kFffd) + "b");                   // lone continuation
  EXPECT_EQ(repair_utf8("\xf0\x9f\x98"), std::string(kFffd));  // truncated emoji
  EXPECT_EQ(repair_utf8("\xf0\x9f\x98\xc3\xa9"), std::string(kFffd) + "\xc3\xa9");
  EXPECT_EQ(repair_utf8("\xe2\x82\xac\xe2\x82"), "\xe2\x82\xac" + std::string(kFffd));
  EXPECT_EQ(repair_utf8("\xff\xfe"), std::string(kFffd) + std::string(kFffd));
}

TEST(RepairUtf8, ReplacesSurrogatesOverlongsAndOutOfRangeBytewise) {
  const std::string three = std::string(kFffd) + std::string(kFffd) + std::string(kFffd);
  EXPECT_EQ(repair_utf8("\xed\xa0\x80"), three);  // U+D800
  EXPECT_EQ(repair_utf8("\xe0\x80\xaf"), three);  // overlong '/'
  EXPECT_EQ(repair_utf8("\xc0\xaf"), std::string(kFffd) + std::string(kFffd));
  EXPECT_EQ(repair_utf8("\xf4\x90\x80\x80"), three + std::string(kFffd));  // > U+10FFFF
}

TEST(RepairUtf8, LeavesValidTextUnchanged) {
  const std::string text = "plain, \xc3\xa9t\xc3\xa9, \xe7\x8c\xab, \xf0\x9f\x8e\x89, \0 nul";
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(repair_utf8(text), text);
  EXPECT_FALSE(is_valid_utf8("\xc3"));
}

TEST(AppendUtf8, EncodesEachLengthAndDecodesBack) {
  for (const char32_t cp : {U'A', U'\u00e9', U'\u20ac', U'\U0001F389', U'\U0010FFFF'}) {
    std::string out;
    append_utf8(out, cp);
    const std::size_t length = valid_sequence_length(out, 0);
    ASSERT_EQ(length, out.size());
    EXPECT_EQ(decode_sequence(out, 0, length), cp);
  }
}

}  // namespace
}  // namespace vcap::text
