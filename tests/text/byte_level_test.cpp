#include "text/byte_level.h"

#include <gtest/gtest.h>

namespace vcap::text {
namespace {

TEST(ByteLevel, MapsBytesToTheSpecTableCharacters) {
  EXPECT_EQ(byte_to_char(' '), U'\u0120');   // Ġ
  EXPECT_EQ(byte_to_char('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(byte_to_char('\t'), U'\u0109');
  EXPECT_EQ(byte_to_char('\r'), U'\u010D');
  EXPECT_EQ(byte_to_char(127), U'\u0121');
  EXPECT_EQ(byte_to_char(173), U'\u0143');
  EXPECT_EQ(byte_to_char('a'), U'a');
  EXPECT_EQ(byte_to_char(0xE9), U'\u00E9');
}

TEST(ByteLevel, InverseTableUndoesEveryByte) {
  for (int b = 0; b < 256; ++b) {
    const std::optional<uint8_t> back = char_to_byte(byte_to_char(static_cast<uint8_t>(b)));
    ASSERT_TRUE(back.has_value()) << b;
    EXPECT_EQ(*back, b);
  }
  EXPECT_FALSE(char_to_byte(U' ').has_value());       // space is written Ġ
  EXPECT_FALSE(char_to_byte(U'\u0144').has_value());  // just past the table
}

TEST(ByteLevel, TokenTextRoundTripsAndForeignTextStaysAsIs) {
  EXPECT_EQ(bytes_to_table_text(" the\n"), "\xc4\xa0the\xc4\x8a");  // "ĠtheĊ"
  EXPECT_EQ(table_text_to_bytes("\xc4\xa0the\xc4\x8a"), " the\n");
  // An added token with a plain space has a character outside the table: kept as its UTF-8.
  EXPECT_EQ(table_text_to_bytes("<my token>"), "<my token>");
  EXPECT_EQ(table_text_to_bytes("<|im_end|>"), "<|im_end|>");
}

}  // namespace
}  // namespace vcap::text
