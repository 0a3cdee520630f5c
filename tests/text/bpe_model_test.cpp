#include "text/bpe_model.h"

#include <gtest/gtest.h>

#include "text/byte_level.h"

namespace vcap::text {
namespace {

// A vocabulary with every single byte (id = byte value) plus `extra` tokens from id 256 on.
StringIdMap byte_vocab(std::initializer_list<std::string_view> extra = {}) {
  StringIdMap vocab;
  for (int b = 0; b < 256; ++b) {
    vocab.insert_or_assign(bytes_to_table_text(std::string(1, static_cast<char>(b))), b);
  }
  int32_t id = 256;
  for (std::string_view token : extra) vocab.insert_or_assign(token, id++);
  return vocab;
}

std::vector<int32_t> encode(const BpeModel& model, std::string_view piece) {
  std::vector<int32_t> ids;
  BpeScratch scratch;
  model.encode_piece(piece, ids, scratch);
  return ids;
}

BpeModel make(StringIdMap vocab, std::vector<MergeStrings> merges, bool ignore_merges = false) {
  Result<BpeModel> model = BpeModel::create(std::move(vocab), merges, ignore_merges);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return std::move(model).value();
}

TEST(BpeModel, AppliesMergesInRankOrderNotTextOrder) {
  // "b c" has the lowest rank, so "abc" becomes a + bc, then abc.
  const BpeModel model =
      make(byte_vocab({"ab", "bc", "abc"}), {{"b", "c"}, {"a", "b"}, {"a", "bc"}});
  EXPECT_EQ(encode(model, "abc"), (std::vector<int32_t>{258}));
  EXPECT_EQ(encode(model, "abx"), (std::vector<int32_t>{256, 'x'}));
}

TEST(BpeModel, MergesOverlappingPairsLeftmostFirst) {
  const BpeModel model = make(byte_vocab({"aa", "aaaa"}), {{"a", "a"}, {"aa", "aa"}});
  EXPECT_EQ(encode(model, "aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(encode(model, "aaaaa"), (std::vector<int32_t>{257, 'a'}));
  EXPECT_EQ(encode(model, "a"), (std::vector<int32_t>{'a'}));
}

TEST(BpeModel, APairListedTwiceKeepsItsLastRank) {
  // "a b" is re-listed after "b c", so "b c" wins on "abc" and a + bc has no merge.
  const BpeModel model = make(byte_vocab({"ab", "bc"}), {{"a", "b"}, {"b", "c"}, {"a", "b"}});
  EXPECT_EQ(encode(model, "abc"), (std::vector<int32_t>{'a', 257}));
}

TEST(BpeModel, StartsFromBytesOfMultiByteCharacters) {
  // "é" is the two bytes C3 A9; with no merge it stays two byte tokens.
  const BpeModel model = make(byte_vocab(), {});
  EXPECT_EQ(encode(model, "\xc3\xa9"), (std::vector<int32_t>{0xC3, 0xA9}));
}

TEST(BpeModel, IgnoreMergesTakesAWholePieceThatIsInTheVocabulary) {
  EXPECT_EQ(encode(make(byte_vocab({"xyz"}), {}, true), "xyz"), (std::vector<int32_t>{256}));
  EXPECT_EQ(encode(make(byte_vocab({"xyz"}), {}, false), "xyz"),
            (std::vector<int32_t>{'x', 'y', 'z'}));
}

TEST(BpeModel, LongRunStaysCorrect) {
  const BpeModel model = make(byte_vocab({"==", "===="}), {{"=", "="}, {"==", "=="}});
  const std::vector<int32_t> ids = encode(model, std::string(100001, '='));
  ASSERT_EQ(ids.size(), 25001u);
  EXPECT_EQ(ids.front(), 257);
  EXPECT_EQ(ids.back(), '=');
}

TEST(BpeModel, RejectsAMergeOfUnknownTokens) {
  Result<BpeModel> model =
      BpeModel::create(byte_vocab(), std::vector<MergeStrings>{{"a", "b"}}, false);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("model.merges[0]"), std::string::npos);
  EXPECT_NE(model.status().message().find("\"ab\""), std::string::npos);
}

TEST(BpeModel, RejectsAVocabularyWithoutEveryByte) {
  StringIdMap vocab;
  vocab.insert_or_assign("a", 0);
  Result<BpeModel> model = BpeModel::create(std::move(vocab), {}, false);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace vcap::text
