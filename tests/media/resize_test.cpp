#include "media/resize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

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
  for (auto [in, out] :
       {std::pair<int64_t, int64_t>{1280, 728}, {37, 420}, {480, 168}, {23, 252}}) {
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

// The arithmetic written out plainly, one output value at a time, with the whole intermediate
// image: horizontal sums (t0 * w0, then fma over the taps in order), then vertical sums, clamp,
// round half to even. An axis whose size does not change is skipped.
std::vector<uint8_t> plain_resize(const std::vector<uint8_t>& image, int64_t stride, FrameSize in,
                                  FrameSize out) {
  const AxisTaps h = bicubic_axis_taps(in.width, out.width);
  const AxisTaps v = bicubic_axis_taps(in.height, out.height);
  const auto sum = [](const AxisTaps& taps, int64_t i, const auto& input) {
    const float* w = &taps.weights[static_cast<size_t>(i * taps.max_taps)];
    float acc = input(taps.first[i]) * w[0];
    for (int64_t j = 1; j < taps.count[i]; ++j) acc = std::fma(input(taps.first[i] + j), w[j], acc);
    return acc;
  };
  std::vector<float> mid(static_cast<size_t>(3 * in.height * out.width));
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < in.height; ++y) {
      const auto pixel = [&](int64_t x) {
        return static_cast<float>(image[y * stride + x * 3 + c]);
      };
      for (int64_t x = 0; x < out.width; ++x) {
        mid[(c * in.height + y) * out.width + x] =
            in.width == out.width ? pixel(x) : sum(h, x, pixel);
      }
    }
  }
  std::vector<uint8_t> result(static_cast<size_t>(3 * out.height * out.width));
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t x = 0; x < out.width; ++x) {
      const auto value = [&](int64_t y) { return mid[(c * in.height + y) * out.width + x]; };
      for (int64_t y = 0; y < out.height; ++y) {
        const float total = in.height == out.height ? value(y) : sum(v, y, value);
        result[(c * out.height + y) * out.width + x] =
            static_cast<uint8_t>(std::nearbyint(std::clamp(total, 0.0f, 255.0f)));
      }
    }
  }
  return result;
}

std::vector<std::pair<FrameSize, FrameSize>> random_size_pairs() {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int64_t> side(1, 97);
  // Odd sides, down- and upscales, single rows and columns, one equal side (the skipped axis),
  // a strong downscale (taps spanning many rows), and the car-detection.mp4 size.
  std::vector<std::pair<FrameSize, FrameSize>> cases = {
      {{23, 37}, {252, 420}}, {{432, 768}, {392, 728}}, {{1, 1}, {3, 5}},
      {{17, 33}, {17, 12}},   {{40, 9}, {13, 9}},       {{5, 100}, {31, 1}},
      {{16, 16}, {16, 16}},   {{301, 163}, {19, 28}}};
  for (int i = 0; i < 40; ++i) cases.push_back({{side(rng), side(rng)}, {side(rng), side(rng)}});
  return cases;
}

std::vector<uint8_t> random_image(FrameSize size, int64_t stride, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> image(static_cast<size_t>(size.height * stride));
  for (uint8_t& v : image) v = static_cast<uint8_t>(byte(rng));
  return image;
}

TEST(BicubicResizer, PortableKernelMatchesThePlainArithmetic) {
  uint32_t seed = 1;
  for (const auto& [in, out] : random_size_pairs()) {
    SCOPED_TRACE(testing::Message()
                 << in.height << "x" << in.width << " -> " << out.height << "x" << out.width);
    const int64_t stride = in.width * 3 + (in.width % 3);  // sometimes padded
    const std::vector<uint8_t> image = random_image(in, stride, seed++);
    std::vector<uint8_t> actual(static_cast<size_t>(3 * out.height * out.width));
    BicubicResizer(in, out, ResizeKernel::kPortable)
        .resize_packed_to_planar(image.data(), stride, actual.data());
    ASSERT_EQ(actual, plain_resize(image, stride, in, out));
  }
}

// Every kernel against the portable loops on random images of random sizes: odd widths and
// heights, down- and upscales, single rows and columns, equal sides (the skipped axis), padded
// strides, blocks whose last rows are partly filled and row ends that are not a multiple of 16.
void expect_kernel_matches_portable(ResizeKernel kernel) {
  if (!resize_kernel_supported(kernel)) GTEST_SKIP() << "this CPU does not run the kernel";
  uint32_t seed = 100;
  for (const auto& [in, out] : random_size_pairs()) {
    SCOPED_TRACE(testing::Message()
                 << in.height << "x" << in.width << " -> " << out.height << "x" << out.width);
    const int64_t stride = in.width * 3 + (in.width % 3);  // sometimes padded
    const std::vector<uint8_t> image = random_image(in, stride, seed++);
    const size_t out_bytes = static_cast<size_t>(3 * out.height * out.width);
    std::vector<uint8_t> expected(out_bytes), actual(out_bytes);
    BicubicResizer portable(in, out, ResizeKernel::kPortable);
    BicubicResizer tested(in, out, kernel);
    ASSERT_EQ(tested.kernel(), kernel);
    portable.resize_packed_to_planar(image.data(), stride, expected.data());
    tested.resize_packed_to_planar(image.data(), stride, actual.data());
    ASSERT_EQ(actual, expected);
    tested.resize_packed_to_planar(image.data(), stride, actual.data());  // reused: same bytes
    ASSERT_EQ(actual, expected);
  }
}

TEST(BicubicResizer, Avx2FmaKernelGivesThePortableBytes) {
  expect_kernel_matches_portable(ResizeKernel::kAvx2Fma);
}

TEST(BicubicResizer, Avx512KernelGivesThePortableBytes) {
  expect_kernel_matches_portable(ResizeKernel::kAvx512);
}

TEST(BicubicResizer, BestKernelIsOneThisCpuRuns) {
  const BicubicResizer resizer({4, 4}, {2, 2});
  EXPECT_NE(resizer.kernel(), ResizeKernel::kBest);
  EXPECT_TRUE(resize_kernel_supported(resizer.kernel()));
  EXPECT_TRUE(resize_kernel_supported(ResizeKernel::kPortable));
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
