// Parity with every golden case of ../shared/golden (skipped when ../shared is absent): plan,
// decoded frames (identical) and resized frames (identical except +-1 on <= 0.1% of values).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "media/clip.h"
#include "media/golden_npy.h"
#include "media/resize.h"

namespace vcap::media {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() { return fs::path(VCAP_SHARED_DIR) / "golden"; }

// Differing values and the largest difference.
std::pair<size_t, int> compare(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t differ = 0;
  int largest = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const int d = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    differ += d != 0;
    largest = std::max(largest, d);
  }
  return {differ, largest};
}

TEST(GoldenParity, EveryCaseDecodesSamplesAndResizesLikeTheReference) {
  if (!fs::exists(golden_dir() / "cases.json")) {
    GTEST_SKIP() << "no ../shared/golden: golden parity runs only next to the shared folder";
  }
  std::ifstream cases_file(golden_dir() / "cases.json");
  const nlohmann::json cases = nlohmann::json::parse(cases_file);
  for (const auto& [name, c] : cases.items()) {
    SCOPED_TRACE(name);
    const fs::path dir = golden_dir() / "cases" / name;
    std::ifstream info_file(dir / "video_info.json");
    const nlohmann::json info = nlohmann::json::parse(info_file);
    DecodeOptions options;
    options.fps = c["fps"];
    options.max_pixels = c["max_pixels"];
    options.autorotate = false;  // the golden data was made without rotation
    options.keep_selected_frames = true;
    ClipResult<Clip> clip = load_clip((fs::path(VCAP_SHARED_DIR) / c["video"]).string(), options);
    ASSERT_TRUE(clip.ok()) << clip.error().message();
    const ClipPlan& plan = clip->plan;
    EXPECT_EQ(plan.total_frames, info["total_frames"].get<int64_t>());
    EXPECT_EQ(plan.video_fps, info["video_fps"].get<double>());
    EXPECT_EQ(plan.nframes, info["nframes"].get<int64_t>());
    EXPECT_EQ(plan.frame_indices, info["frame_indices"].get<std::vector<int64_t>>());
    EXPECT_EQ(plan.orig_height, info["orig_hw"][0].get<int64_t>());
    EXPECT_EQ(plan.orig_width, info["orig_hw"][1].get<int64_t>());
    EXPECT_EQ(plan.resized_height, info["resized_hw"][0].get<int64_t>());
    EXPECT_EQ(plan.resized_width, info["resized_hw"][1].get<int64_t>());

    if (auto selected = testing::read_golden_npy(dir / "frames_selected_u8.npy")) {
      EXPECT_EQ(selected->shape, (std::vector<int64_t>{plan.nframes, clip->selected_height,
                                                       clip->selected_width, 3}));
      EXPECT_EQ(compare(selected->bytes, clip->selected_frames).first, 0u);
    }
    auto resized = testing::read_golden_npy(dir / "frames_resized_u8.npy");
    if (!resized) continue;  // left out of the case (over 8 MB)
    ASSERT_EQ(resized->bytes.size(), clip->frames.size());
    const auto [differ, largest] = compare(resized->bytes, clip->frames);
    EXPECT_LE(largest, 1);
    EXPECT_LE(differ * 1000, resized->bytes.size()) << differ << " values differ";
  }
}

// The resize alone, fed with the golden decoded frames (one stage at a time).
TEST(GoldenParity, ResizeOfGoldenFramesMatches) {
  if (!fs::exists(golden_dir() / "cases.json")) {
    GTEST_SKIP() << "no ../shared/golden: golden parity runs only next to the shared folder";
  }
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(golden_dir() / "cases")) {
    auto selected = testing::read_golden_npy(entry.path() / "frames_selected_u8.npy");
    auto resized = testing::read_golden_npy(entry.path() / "frames_resized_u8.npy");
    if (!selected || !resized) continue;
    SCOPED_TRACE(entry.path().filename().string());
    const int64_t t = selected->shape[0];
    const FrameSize in{selected->shape[1], selected->shape[2]};
    const FrameSize out{resized->shape[2], resized->shape[3]};
    BicubicResizer resizer(in, out);
    std::vector<uint8_t> ours(resized->bytes.size());
    const size_t in_frame = static_cast<size_t>(in.height * in.width * 3);
    const size_t out_frame = static_cast<size_t>(3 * out.height * out.width);
    for (int64_t f = 0; f < t; ++f) {
      resizer.resize_packed_to_planar(&selected->bytes[f * in_frame], in.width * 3,
                                      &ours[f * out_frame]);
    }
    const auto [differ, largest] = compare(resized->bytes, ours);
    EXPECT_LE(largest, 1);
    EXPECT_LE(differ * 1000, ours.size());
    EXPECT_LE(differ, 6u);  // measured: 0, 0, 6 and 1 (exact .5 ties of the float sums)
    ++compared;
  }
  EXPECT_EQ(compared, 4);
}

}  // namespace
}  // namespace vcap::media
