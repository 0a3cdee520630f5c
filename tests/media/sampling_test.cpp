#include "media/sampling.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace vcap::media {
namespace {

int64_t nframes_or_zero(int64_t total, double video_fps, double fps) {
  ClipResult<int64_t> n = smart_nframes(total, video_fps, fps);
  return n.ok() ? *n : 0;
}

TEST(RoundHalfEven, RoundsTiesToEven) {
  EXPECT_EQ(round_half_even(0.5), 0);
  EXPECT_EQ(round_half_even(1.5), 2);
  EXPECT_EQ(round_half_even(21.5), 22);
  EXPECT_EQ(round_half_even(20.5), 20);
  EXPECT_EQ(round_half_even(2.4999), 2);
}

// spec §13.3: 30 fps source sampled at 4 fps.
TEST(SmartNframes, RoundsToEvenCountsLikeQwenVlUtils08) {
  EXPECT_EQ(nframes_or_zero(300, 30, 4), 40);
  EXPECT_EQ(nframes_or_zero(307, 30, 4), 40);
  EXPECT_EQ(nframes_or_zero(322, 30, 4), 42);
  EXPECT_EQ(nframes_or_zero(324, 30, 4), 44);  // raw 43.2 rounds up (U10+ would floor to 42)
  EXPECT_EQ(nframes_or_zero(20, 30, 4), 4);    // the 4-frame minimum
  EXPECT_EQ(nframes_or_zero(3, 30, 4), 2);     // at most the frames there are, rounded to even
  EXPECT_EQ(nframes_or_zero(6, 30, 2), 4);
  EXPECT_EQ(nframes_or_zero(100000, 30, 4), 768);  // the 768-frame maximum
}

TEST(SmartNframes, OneFrameClipIsTooFewFrames) {
  ClipResult<int64_t> n = smart_nframes(1, 25, 4);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().kind(), ClipErrorKind::kTooFewFrames);
  EXPECT_FALSE(smart_nframes(0, 25, 4).ok());
}

TEST(SmartNframes, RejectsNonPositiveRates) {
  EXPECT_EQ(smart_nframes(100, 25, 0).error().kind(), ClipErrorKind::kInvalidOptions);
  EXPECT_EQ(smart_nframes(100, 0, 4).error().kind(), ClipErrorKind::kDecodeError);
}

TEST(FrameIndices, MatchesSpecWorkedExample) {
  const std::vector<int64_t> expected = {
      0,   8,   15,  23,  31,  38,  46,  54,  61,  69,  77,  84,  92,  100, 107, 115, 123, 130, 138, 146,
      153, 161, 169, 176, 184, 192, 199, 207, 215, 222, 230, 238, 245, 253, 261, 268, 276, 284, 291, 299};
  EXPECT_EQ(frame_indices(300, 40), expected);
}

TEST(FrameIndices, FirstAndLastFrameAlwaysChosen) {
  for (int64_t total : {2, 3, 17, 250, 1000, 54321}) {
    for (int64_t n : {2, 4, 40, 768}) {
      if (n > total) continue;
      const std::vector<int64_t> idx = frame_indices(total, n);
      ASSERT_EQ(static_cast<int64_t>(idx.size()), n);
      EXPECT_EQ(idx.front(), 0);
      EXPECT_EQ(idx.back(), total - 1);
      for (size_t k = 1; k < idx.size(); ++k) EXPECT_LT(idx[k - 1], idx[k]);
    }
  }
}

// Every golden case's video_info.json (copied into tests/data/media/golden).
TEST(FrameIndices, MatchGoldenVideoInfo) {
  const std::filesystem::path dir = std::filesystem::path(VCAP_TEST_DATA_DIR) / "media/golden";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream file(entry.path());
    const nlohmann::json info = nlohmann::json::parse(file);
    const int64_t total = info["total_frames"];
    const int64_t n = info["nframes"];
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_EQ(frame_indices(total, n), info["frame_indices"].get<std::vector<int64_t>>());
    const int64_t h = info["orig_hw"][0];
    const int64_t w = info["orig_hw"][1];
    ClipResult<FrameSize> size = smart_resize(h, w, 28, info["min_pixels"], info["max_pixels"]);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(size->height, info["resized_hw"][0].get<int64_t>());
    EXPECT_EQ(size->width, info["resized_hw"][1].get<int64_t>());
    ++cases;
  }
  EXPECT_EQ(cases, 7);
}

// spec §13.2 with max_pixels 301056 and min_pixels 100352.
TEST(SmartResize, KeepsAspectAndRoundsSidesToMultiplesOf28) {
  auto size = [](int64_t h, int64_t w) { return *smart_resize(h, w, 28, 100352, 301056); };
  EXPECT_EQ(size(720, 1280), (FrameSize{392, 728}));
  EXPECT_EQ(size(1080, 1920), (FrameSize{392, 728}));
  EXPECT_EQ(size(1920, 1080), (FrameSize{728, 392}));
  EXPECT_EQ(size(480, 640), (FrameSize{448, 616}));
  EXPECT_EQ(size(240, 320), (FrameSize{280, 392}));  // below min_pixels: scaled up
  EXPECT_EQ(size(23, 37), (FrameSize{252, 420}));    // odd tiny frames too
}

TEST(SmartResize, SmallCapCanEndBelowMinPixels) {
  // The golden asl case: area cap 50176 < min_pixels, no second check (spec §6.5 step 5).
  EXPECT_EQ(*smart_resize(480, 640, 28, 100352, 50176), (FrameSize{168, 252}));
}

TEST(SmartResize, RejectsAspectRatioOver200) {
  ClipResult<FrameSize> size = smart_resize(10, 2001, 28, 100352, 301056);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().kind(), ClipErrorKind::kBadAspectRatio);
  EXPECT_TRUE(smart_resize(10, 2000, 28, 3136, 12845056).ok());
}

// Under a small area a wide frame's short side rounds to nothing (qwen-vl-utils would go on
// with a zero side): the clip's shape does not fit the settings, which is no internal fault.
TEST(SmartResize, AFrameTooNarrowForTheAreaIsABadAspectRatio) {
  ClipResult<FrameSize> size = smart_resize(240, 320, 28, 100352, 784);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().kind(), ClipErrorKind::kBadAspectRatio);
  EXPECT_NE(size.error().message().find("320x240 is too narrow for an area of 784 pixels"),
            std::string::npos)
      << size.error().message();
  EXPECT_TRUE(smart_resize(28, 28, 28, 100352, 784).ok());
}

TEST(SmartResize, RejectsNonPositiveInput) {
  EXPECT_EQ(smart_resize(0, 10, 28, 1, 1).error().kind(), ClipErrorKind::kInvalidOptions);
  EXPECT_EQ(smart_resize(10, 10, 28, 1, 0).error().kind(), ClipErrorKind::kInvalidOptions);
}

TEST(ClipError, KindNamesAreStable) {
  EXPECT_STREQ(clip_error_kind_name(ClipErrorKind::kTruncated), "truncated");
  EXPECT_STREQ(clip_error_kind_name(ClipErrorKind::kNoVideoStream), "no_video_stream");
  const ClipError error(ClipErrorKind::kTimeout, "media: a.mp4: decode deadline passed");
  EXPECT_EQ(error.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(error.status().message(), error.message());
}

}  // namespace
}  // namespace vcap::media
