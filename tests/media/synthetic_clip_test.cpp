#include "media/synthetic_clip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "media/clip.h"

namespace vcap::media {
namespace {

namespace fs = std::filesystem;

class SyntheticClipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vcap_synthetic_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(SyntheticClipTest, WritesAClipThatDecodesToItsFramesAndSize) {
  const fs::path path = dir_ / "clip.mp4";
  Result<std::string> encoder = write_synthetic_clip(path, {96, 64, 10, 2.0});
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  EXPECT_TRUE(*encoder == "libx264" || *encoder == "mpeg4") << *encoder;
  ClipResult<ClipPlan> plan = plan_clip(path.string(), DecodeOptions{});
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_EQ(plan->total_frames, 20);
  EXPECT_DOUBLE_EQ(plan->video_fps, 10.0);
  EXPECT_EQ(plan->orig_width, 96);
  EXPECT_EQ(plan->orig_height, 64);
  EXPECT_EQ(plan->nframes, 8);  // 2 s at fps 4
  // Only the finished file is left: no partial file beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(SyntheticClipTest, FramesMove) {
  const fs::path path = dir_ / "moving.mp4";
  ASSERT_TRUE(write_synthetic_clip(path, {64, 64, 8, 1.0}).ok());
  DecodeOptions options;
  options.resize_mode = ResizeMode::kExact;
  options.exact_height = 56;
  options.exact_width = 56;
  ClipResult<Clip> clip = load_clip(path.string(), options);
  ASSERT_TRUE(clip) << clip.error().message();
  ASSERT_EQ(clip->plan.nframes, 4);
  const size_t frame_bytes = clip->frames.size() / 4;
  EXPECT_FALSE(std::equal(clip->frames.begin(), clip->frames.begin() + frame_bytes,
                          clip->frames.begin() + frame_bytes));
}

TEST_F(SyntheticClipTest, RefusesOddSizesAndEmptyClips) {
  EXPECT_EQ(write_synthetic_clip(dir_ / "a.mp4", {95, 64, 10, 1.0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(write_synthetic_clip(dir_ / "b.mp4", {96, 64, 0, 1.0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(write_synthetic_clip(dir_ / "c.mp4", {96, 64, 10, 0.0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(SyntheticClipTest, UnwritableFolderIsAnErrorAndLeavesNothing) {
  Result<std::string> result = write_synthetic_clip(dir_ / "missing" / "clip.mp4", {64, 64, 8, 1});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kIoError);
  EXPECT_NE(result.status().message().find("missing"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

TEST_F(SyntheticClipTest, UnknownContainerIsAnError) {
  Result<std::string> result = write_synthetic_clip(dir_ / "clip.notacontainer", {64, 64, 8, 1});
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace vcap::media
