#include "model/processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "media/golden_npy.h"
#include "tensor/dtype.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;

// Frames whose bytes encode their position, to check where each lands.
std::vector<uint8_t> coded_frames(int64_t t, int64_t h, int64_t w) {
  std::vector<uint8_t> data(static_cast<size_t>(t * 3 * h * w));
  for (int64_t f = 0; f < t; ++f)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          data[static_cast<size_t>(((f * 3 + c) * h + y) * w + x)] =
              static_cast<uint8_t>((f * 91 + c * 53 + y * 7 + x * 3) % 256);
  return data;
}

float normalised(uint8_t x, int c, const PreprocessorConfig& config) {
  const float v = static_cast<float>(static_cast<double>(x) * (1.0 / 255.0));
  return (v - config.image_mean[c]) / config.image_std[c];
}

TEST(PreprocessVideo, FlattensPatchesInSpecOrder) {
  const PreprocessorConfig config;
  const int64_t t = 3, h = 56, w = 84;  // 3 frames: padded to 4 by repeating the last
  const std::vector<uint8_t> data = coded_frames(t, h, w);
  Result<PixelValues> pv = preprocess_video({data.data(), t, h, w}, config);
  ASSERT_TRUE(pv.ok()) << pv.status().to_string();
  EXPECT_EQ(pv->grid_thw, (std::array<int64_t, 3>{2, 4, 6}));
  EXPECT_EQ(pv->rows, 48);
  EXPECT_EQ(pv->cols, 1176);
  const int64_t gh = 4, gw = 6;
  for (int64_t g = 0; g < 2; ++g) {
    for (int64_t r = 0; r < gh; ++r) {
      for (int64_t q = 0; q < gw; ++q) {
        // spec §7.4 row formula.
        const int64_t row = ((g * (gh / 2) + r / 2) * (gw / 2) + q / 2) * 4 + (r % 2) * 2 + q % 2;
        for (int64_t c = 0; c < 3; ++c) {
          for (int64_t tp = 0; tp < 2; ++tp) {
            const int64_t frame = std::min<int64_t>(2 * g + tp, t - 1);
            for (int64_t py = 0; py < 14; py += 13) {
              for (int64_t px = 0; px < 14; px += 5) {
                const int64_t col = ((c * 2 + tp) * 14 + py) * 14 + px;
                const uint8_t x = data[static_cast<size_t>(
                    ((frame * 3 + c) * h + 14 * r + py) * w + 14 * q + px)];
                ASSERT_EQ(pv->values[static_cast<size_t>(row * 1176 + col)],
                          normalised(x, static_cast<int>(c), config))
                    << row << " " << col;
              }
            }
          }
        }
      }
    }
  }
}

// A preprocessor config may turn the rescale or the normalisation off, or give another factor.
TEST(PreprocessVideo, AppliesOnlyTheStepsTheConfigLeavesOn) {
  const int64_t t = 2, h = 28, w = 28;
  const std::vector<uint8_t> data = coded_frames(t, h, w);
  const auto value_of = [&](const PreprocessorConfig& config) {
    Result<PixelValues> pv = preprocess_video({data.data(), t, h, w}, config);
    EXPECT_TRUE(pv.ok()) << pv.status().to_string();
    return pv.ok() ? pv->values[1] : std::nanf("");
  };
  const uint8_t x = data[1];  // row 0, column 1: frame 0, channel 0, pixel (0, 1)
  ASSERT_GT(x, 0);
  PreprocessorConfig config;
  EXPECT_EQ(value_of(config), normalised(x, 0, config));
  config.do_normalize = false;
  EXPECT_EQ(value_of(config), static_cast<float>(x * (1.0 / 255.0)));
  config.rescale_factor = 0.5;
  EXPECT_EQ(value_of(config), static_cast<float>(x * 0.5));
  config.do_rescale = false;
  EXPECT_EQ(value_of(config), static_cast<float>(x));
  config.do_normalize = true;
  EXPECT_EQ(value_of(config), (static_cast<float>(x) - config.image_mean[0]) / config.image_std[0]);
}

TEST(PreprocessVideo, RescalesInDoubleThenNormalisesInFloat) {
  const PreprocessorConfig config;
  std::vector<uint8_t> data(2 * 3 * 28 * 28, 255);
  Result<PixelValues> pv = preprocess_video({data.data(), 2, 28, 28}, config);
  ASSERT_TRUE(pv.ok());
  // 255 * (1/255) is exactly 1 in double: (1 - mean) / std per channel.
  EXPECT_EQ(pv->values[0], (1.0f - 0.48145466f) / 0.26862954f);
  EXPECT_EQ(pv->values[2 * 196], (1.0f - 0.4578275f) / 0.26130258f);
  EXPECT_EQ(pv->values[4 * 196], (1.0f - 0.40821073f) / 0.27577711f);
}

TEST(PreprocessVideo, Bf16ValuesAreTheF32ValuesRoundedToNearestEven) {
  const PreprocessorConfig config;
  const std::vector<uint8_t> data = coded_frames(3, 56, 84);  // padded to 4 frames
  Result<PixelValues> f32 = preprocess_video({data.data(), 3, 56, 84}, config);
  Result<PixelValues> bf16 =
      preprocess_video({data.data(), 3, 56, 84}, config, tensor::HostDType::kBF16);
  ASSERT_TRUE(f32.ok());
  ASSERT_TRUE(bf16.ok());
  EXPECT_EQ(bf16->dtype, tensor::HostDType::kBF16);
  EXPECT_EQ(bf16->grid_thw, f32->grid_thw);
  EXPECT_TRUE(bf16->values.empty());
  ASSERT_EQ(bf16->bf16_values.size(), f32->values.size());
  for (size_t i = 0; i < f32->values.size(); ++i) {
    ASSERT_EQ(bf16->bf16_values[i], tensor::f32_to_bf16(f32->values[i])) << "value " << i;
  }
  const tensor::HostMatrix matrix = bf16->matrix();
  EXPECT_EQ(matrix.data, bf16->bf16_values.data());
  EXPECT_EQ(matrix.dtype, tensor::HostDType::kBF16);
  EXPECT_EQ(matrix.rows, 2 * 4 * 6);
  EXPECT_EQ(matrix.cols, 1176);
  EXPECT_EQ(f32->matrix().data, f32->values.data());
  EXPECT_EQ(
      preprocess_video({data.data(), 3, 56, 84}, config, tensor::HostDType::kF16).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(PreprocessVideo, RejectsFramesNotSizedBySmartResize) {
  const PreprocessorConfig config;
  std::vector<uint8_t> data(2 * 3 * 28 * 30);
  EXPECT_EQ(preprocess_video({data.data(), 2, 28, 30}, config).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(preprocess_video({nullptr, 2, 28, 28}, config).ok());
  EXPECT_FALSE(preprocess_video({data.data(), 0, 28, 28}, config).ok());
}

// Golden pixel_values from the golden resized frames (skipped without ../shared).
TEST(PreprocessVideo, MatchesGoldenPixelValues) {
  const fs::path cases = fs::path(VCAP_SHARED_DIR) / "golden/cases";
  if (!fs::exists(cases)) GTEST_SKIP() << "no ../shared/golden: golden parity skipped";
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(cases)) {
    auto frames = testing::read_golden_npy(entry.path() / "frames_resized_u8.npy");
    auto golden = testing::read_golden_npy(entry.path() / "pixel_values.npy");
    auto grid = testing::read_golden_npy(entry.path() / "grid_thw.npy");
    if (!frames || !golden || !grid) continue;
    SCOPED_TRACE(entry.path().filename().string());
    ASSERT_EQ(golden->descr, "<f4");
    const VideoFramesView view{frames->bytes.data(), frames->shape[0], frames->shape[2],
                               frames->shape[3]};
    Result<PixelValues> pv = preprocess_video(view, PreprocessorConfig{});
    ASSERT_TRUE(pv.ok());
    const std::vector<int64_t> thw = grid->as<int64_t>();
    EXPECT_EQ(thw, std::vector<int64_t>(pv->grid_thw.begin(), pv->grid_thw.end()));
    const std::vector<float> expected = golden->as<float>();
    ASSERT_EQ(expected.size(), pv->values.size());
    float largest = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      largest = std::max(largest, std::abs(expected[i] - pv->values[i]));
    }
    EXPECT_LE(largest, 1e-6f);
    ++compared;
  }
  EXPECT_EQ(compared, 2);
}

}  // namespace
}  // namespace vcap::model
