#include "media/resize.h"

#include <gtest/gtest.h>

#include <numeric>

namespace vcap::media {
namespace {

// Keys cubic, a = -0.5, in double: the reference values the float weights approximate.
double keys(double x) {
  x = std::abs(x);
  if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
  if (x < 2) return ((x - 5) * x + 8) * x * -0.5 - 4 * -0.5;
  return 0;
}

TEST(BicubicAxisTaps, EqualSizesAreTheIdentity) {
  const AxisTaps taps = bicubic_axis_taps(5, 5);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < taps.count[i]; ++j) {
      const float w = taps.weights[static_cast<size_t>(i * taps.max_taps + j)];
      EXPECT_EQ(w, taps.first[i] + j == i ? 1.0f : 0.0f) << i << " " << j;
    }
  }
}

// 4 -> 2: scale 2, support 4, each output reads all 4 inputs with K((j - center + 0.5) / 2).
TEST(BicubicAxisTaps, HalvingStretchesTheKernelAndNormalises) {
  const AxisTaps taps = bicubic_axis_taps(4, 2);
  EXPECT_EQ(taps.max_taps, 9);
  ASSERT_EQ(taps.first[0], 0);
  ASSERT_EQ(taps.count[0], 4);
  const double raw[4] = {keys(-0.25), keys(0.25), keys(0.75), keys(1.25)};
  const double sum = raw[0] + raw[1] + raw[2] + raw[3];
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(taps.weights[j], raw[j] / sum, 1e-7) << j;
  EXPECT_NEAR(raw[1], 0.8671875, 1e-12);   // hand: 1.5/64 - 2.5/16 + 1
  EXPECT_NEAR(raw[3], -0.0703125, 1e-12);  // hand: -0.5 (1.953125 - 7.8125 + 10 - 4)
}

TEST(BicubicAxisTaps, WeightsSumToOne) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{1280, 728}, {37, 420}, {480, 168}, {23, 252}}) {
    const AxisTaps taps = bicubic_axis_taps(in, out);
    for (int64_t i = 0; i < out; ++i) {
      const float* w = &taps.weights[static_cast<size_t>(i * taps.max_taps)];
      EXPECT_NEAR(std::accumulate(w, w + taps.count[i], 0.0), 1.0, 1e-5);
      EXPECT_GE(taps.first[i], 0);
      EXPECT_LE(taps.first[i] + taps.count[i], in);
    }
  }
}

std::vector<uint8_t> pattern(int64_t h, int64_t w) {
  std::vector<uint8_t> image(static_cast<size_t>(h * w * 3));
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  return image;
}

TEST(BicubicResizer, SameSizeOnlyMovesChannelsFirst) {
  const std::vector<uint8_t> image = pattern(3, 5);
  BicubicResizer resizer({3, 5}, {3, 5});
  std::vector<uint8_t> out(3 * 3 * 5);
  resizer.resize_packed_to_planar(image.data(), 5 * 3, out.data());
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t p = 0; p < 15; ++p) EXPECT_EQ(out[c * 15 + p], image[p * 3 + c]);
  }
}

TEST(BicubicResizer, ConstantImageStaysConstant) {
  std::vector<uint8_t> image(23 * 37 * 3, 200);
  BicubicResizer resizer({23, 37}, {252, 420});
  std::vector<uint8_t> out(3 * 252 * 420);
  resizer.resize_packed_to_planar(image.data(), 37 * 3, out.data());
  for (uint8_t v : out) ASSERT_EQ(v, 200);
}

TEST(BicubicResizer, OvershootIsClampedToByteRange) {
  // A hard black/white edge rings with a cubic kernel; values must stay in [0, 255].
  std::vector<uint8_t> image(8 * 16 * 3);
  for (int64_t y = 0; y < 8; ++y) {
    for (int64_t x = 8; x < 16; ++x) {
      for (int c = 0; c < 3; ++c) image[static_cast<size_t>((y * 16 + x) * 3 + c)] = 255;
    }
  }
  BicubicResizer resizer({8, 16}, {8, 40});
  std::vector<uint8_t> out(3 * 8 * 40);
  resizer.resize_packed_to_planar(image.data(), 16 * 3, out.data());
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[39], 255);
}

TEST(BicubicResizer, HonoursSourceStride) {
  const std::vector<uint8_t> image = pattern(9, 11);
  std::vector<uint8_t> padded(9 * 40, 0);
  for (int64_t y = 0; y < 9; ++y) {
    std::copy_n(&image[static_cast<size_t>(y * 33)], 33, &padded[static_cast<size_t>(y * 40)]);
  }
  BicubicResizer a({9, 11}, {5, 6});
  BicubicResizer b({9, 11}, {5, 6});
  std::vector<uint8_t> out_a(90), out_b(90);
  a.resize_packed_to_planar(image.data(), 33, out_a.data());
  b.resize_packed_to_planar(padded.data(), 40, out_b.data());
  EXPECT_EQ(out_a, out_b);
}

TEST(RotateImage, QuarterTurnClockwiseMovesTopRowToTheRight) {
  // 2 x 3 image:  a b c      90 cw ->  d a
  //               d e f                e b
  //                                    f c
  const std::vector<uint8_t> src = {'a', 'b', 'c', 'd', 'e', 'f'};
  std::vector<uint8_t> dst(6);
  rotate_image(src.data(), 2, 3, 1, 90, dst.data());
  EXPECT_EQ(std::string(dst.begin(), dst.end()), "daebfc");
  rotate_image(src.data(), 2, 3, 1, 270, dst.data());
  EXPECT_EQ(std::string(dst.begin(), dst.end()), "cfbead");
  rotate_image(src.data(), 2, 3, 1, 180, dst.data());
  EXPECT_EQ(std::string(dst.begin(), dst.end()), "fedcba");
}

TEST(RotateImage, MovesWholePixels) {
  const std::vector<uint8_t> src = {1, 2, 3, 4, 5, 6};  // 1 x 2 pixels of 3 bytes
  std::vector<uint8_t> dst(6);
  rotate_image(src.data(), 1, 2, 3, 90, dst.data());  // -> 2 x 1
  EXPECT_EQ(dst, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  rotate_image(src.data(), 1, 2, 3, 180, dst.data());
  EXPECT_EQ(dst, (std::vector<uint8_t>{4, 5, 6, 1, 2, 3}));
}

}  // namespace
}  // namespace vcap::media
