#include "model/rope_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace vcap::model {
namespace {

constexpr TokenId kText = 100;
constexpr TokenId kVisionStart = 151652;
constexpr TokenId kVisionEnd = 151653;
constexpr TokenId kVideoPad = 151656;
constexpr TokenId kImagePad = 151655;

// spec §13.1: 14 text tokens, <|vision_start|>, 7280 video pads, <|vision_end|>, 10 text.
std::vector<TokenId> worked_example_ids() {
  std::vector<TokenId> ids(14, kText);
  ids.push_back(kVisionStart);
  ids.insert(ids.end(), 7280, kVideoPad);
  ids.push_back(kVisionEnd);
  ids.insert(ids.end(), 10, kText);
  return ids;
}

void expect_position(const RopeIndex& index, int64_t token, int64_t t, int64_t h, int64_t w) {
  EXPECT_EQ(index.at(0, token), t) << "token " << token;
  EXPECT_EQ(index.at(1, token), h) << "token " << token;
  EXPECT_EQ(index.at(2, token), w) << "token " << token;
}

TEST(RopeIndex, MatchesTheWorkedExampleOfSpec13_1) {
  const std::vector<TokenId> ids = worked_example_ids();
  ASSERT_EQ(ids.size(), 7306u);
  const VisionGrid grid{20, 28, 52};
  auto index = get_rope_index(ids, {}, std::span(&grid, 1), 2);
  ASSERT_TRUE(index.ok()) << index.status().to_string();
  EXPECT_EQ(index->length, 7306);
  expect_position(*index, 0, 0, 0, 0);
  expect_position(*index, 14, 14, 14, 14);
  expect_position(*index, 15, 15, 15, 15);
  expect_position(*index, 16, 15, 15, 16);
  expect_position(*index, 40, 15, 15, 40);
  expect_position(*index, 41, 15, 16, 15);
  expect_position(*index, 379, 16, 15, 15);
  expect_position(*index, 7292, 34, 28, 38);
  expect_position(*index, 7294, 34, 28, 40);
  expect_position(*index, 7295, 41, 41, 41);
  expect_position(*index, 7305, 51, 51, 51);
  EXPECT_EQ(index->rope_delta, -7254);
  EXPECT_EQ(decode_position(7306, index->rope_delta), 52);
}

TEST(RopeIndex, TextOnlyPromptCountsFromZeroWithZeroDelta) {
  const std::vector<TokenId> ids = {1, 2, 3, 4};
  auto index = get_rope_index(ids, {}, {}, 2);
  ASSERT_TRUE(index.ok());
  for (int64_t i = 0; i < 4; ++i) expect_position(*index, i, i, i, i);
  EXPECT_EQ(index->rope_delta, 0);
}

TEST(RopeIndex, ImageAndVideoBlocksTakeTheirGridsInOrderOfAppearance) {
  // text, image (1x2x4 -> 1x1x2 tokens), text, video (2x2x2 -> 2x1x1 tokens), text.
  std::vector<TokenId> ids = {kText,        kVisionStart, kImagePad, kImagePad,  kVisionEnd,
                              kVisionStart, kVideoPad,    kVideoPad, kVisionEnd, kText};
  const VisionGrid image{1, 2, 4};
  const VisionGrid video{2, 2, 2};
  auto index = get_rope_index(ids, std::span(&image, 1), std::span(&video, 1), 2);
  ASSERT_TRUE(index.ok()) << index.status().to_string();
  expect_position(*index, 1, 1, 1, 1);  // vision_start
  expect_position(*index, 2, 2, 2, 2);  // image token (0, 0, 0)
  expect_position(*index, 3, 2, 2, 3);  // image token (0, 0, 1)
  expect_position(*index, 4, 4, 4, 4);  // vision_end: 2 + max(1, 1, 2)
  expect_position(*index, 5, 5, 5, 5);  // vision_start
  expect_position(*index, 6, 6, 6, 6);  // video token (0, 0, 0)
  expect_position(*index, 7, 7, 6, 6);  // video token (1, 0, 0)
  expect_position(*index, 8, 8, 8, 8);  // 6 + max(2, 1, 1)
  expect_position(*index, 9, 9, 9, 9);
  EXPECT_EQ(index->rope_delta, 0);
}

TEST(RopeIndex, RejectsPadCountThatDoesNotMatchTheGrid) {
  std::vector<TokenId> ids = {kVisionStart, kVideoPad, kVideoPad, kVideoPad, kVisionEnd};
  const VisionGrid grid{1, 4, 4};  // needs 4 pads
  EXPECT_FALSE(get_rope_index(ids, {}, std::span(&grid, 1), 2).ok());
}

TEST(RopeIndex, RejectsMissingOrExtraGrids) {
  std::vector<TokenId> ids = {kVisionStart, kVideoPad, kVisionEnd};
  EXPECT_FALSE(get_rope_index(ids, {}, {}, 2).ok());
  const VisionGrid grids[2] = {{1, 2, 2}, {1, 2, 2}};
  EXPECT_FALSE(get_rope_index(ids, {}, grids, 2).ok());
}

TEST(RopeIndex, RejectsGridsThatAreNotMultiplesOfTheMergeSize) {
  std::vector<TokenId> ids = {kVisionStart, kVideoPad, kVisionEnd};
  const VisionGrid grid{1, 3, 2};
  EXPECT_FALSE(get_rope_index(ids, {}, std::span(&grid, 1), 2).ok());
}

TEST(MRopeTable, SelectsTheTemporalHeightAndWidthRowPerSection) {
  const MRopeParams params{16, 1000000.0, {2, 3, 3}};
  const std::vector<float> inv_freq = rope_inverse_frequencies(16, params.theta);
  ASSERT_EQ(inv_freq.size(), 8u);
  EXPECT_FLOAT_EQ(inv_freq[0], 1.0f);
  EXPECT_NEAR(inv_freq[1], std::pow(1e6, -2.0 / 16), 1e-7);
  const std::vector<int64_t> t = {3}, h = {5}, w = {7};
  RotaryTable table;
  mrope_table(t, h, w, inv_freq, params, table);
  ASSERT_EQ(table.rows, 1);
  ASSERT_EQ(table.half, 8);
  const int64_t expected_pos[8] = {3, 3, 5, 5, 5, 7, 7, 7};
  for (int j = 0; j < 8; ++j) {
    const float angle = static_cast<float>(expected_pos[j]) * inv_freq[j];
    EXPECT_FLOAT_EQ(table.cos[j], std::cos(angle)) << j;
    EXPECT_FLOAT_EQ(table.sin[j], std::sin(angle)) << j;
  }
}

TEST(VisionRotary, PatchPositionsFollowTheMergeBlockOrderOfSpec13_1) {
  const VisionGrid grid{1, 28, 52};
  const std::vector<int64_t> pos = vision_patch_positions(std::span(&grid, 1), 2);
  ASSERT_EQ(pos.size(), 2u * 28 * 52);
  using Pos = std::pair<int64_t, int64_t>;
  auto at = [&](size_t row) { return Pos{pos[2 * row], pos[2 * row + 1]}; };
  EXPECT_EQ(at(0), Pos(0, 0));
  EXPECT_EQ(at(1), Pos(0, 1));
  EXPECT_EQ(at(2), Pos(1, 0));
  EXPECT_EQ(at(3), Pos(1, 1));
  EXPECT_EQ(at(4), Pos(0, 2));
  EXPECT_EQ(at(100), Pos(0, 50));
  EXPECT_EQ(at(103), Pos(1, 51));
  EXPECT_EQ(at(104), Pos(2, 0));
  EXPECT_EQ(at(107), Pos(3, 1));
}

TEST(VisionRotary, FirstHalfUsesTheRowAndSecondHalfTheColumn) {
  const VisionGrid grid{2, 2, 4};  // 16 patches; patch 5 = block (0,1), (0,1) inside -> (0, 3)
  const RotaryTable table = vision_rotary_table(std::span(&grid, 1), 80, 2);
  ASSERT_EQ(table.rows, 16);
  ASSERT_EQ(table.half, 40);
  const std::vector<float> inv_freq = rope_inverse_frequencies(40, 10000.0);
  ASSERT_EQ(inv_freq.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_FLOAT_EQ(table.cos[5 * 40 + i], 1.0f);  // hpos 0
    EXPECT_FLOAT_EQ(table.cos[5 * 40 + 20 + i], std::cos(3.0f * inv_freq[i]));
  }
  // The second frame pair repeats the positions of the first.
  for (int i = 0; i < 40; ++i) EXPECT_EQ(table.sin[13 * 40 + i], table.sin[5 * 40 + i]);
}

}  // namespace
}  // namespace vcap::model
