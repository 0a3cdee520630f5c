// `vcap inspect` end to end on the golden case pico-b__short-0.2s-fps2: the clip is in
// tests/data/media, the model is regenerated bit-identically, and every file written must match
// the golden arrays copied into tests/data (no ../shared needed).
#include "pipeline/inspect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "pipeline/test_dir.h"
#include "pipeline/test_model_dir.h"

namespace vcap::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::read_text;
using testing::TestDir;

const fs::path kData = VCAP_TEST_DATA_DIR;
const fs::path kGolden = kData / "model" / "pico-b__short-0.2s-fps2";

io::NpyArray npy(const fs::path& path) {
  Result<io::NpyArray> array = io::read_npy(path);
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  return array.ok() ? std::move(array).value() : io::NpyArray{};
}

nlohmann::json json_file(const fs::path& path) { return nlohmann::json::parse(read_text(path)); }

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::make_test_model_dir("pico-b", dir_.path() / "model").ok());
    options_.video = (kData / "media" / "short_0.2s.mp4").string();
    options_.model = (dir_.path() / "model").string();
    options_.out_dir = dir_.path() / "out";
    options_.question = "Summarize this clip in one sentence.";
    options_.fps = 2;
    options_.max_new_tokens = 32;
    options_.threads = 1;
  }

  TestDir dir_;
  InspectOptions options_;
};

TEST_F(Inspect, EveryStageMatchesTheGoldenCase) {
  ASSERT_TRUE(run_inspect(options_).ok());
  const fs::path& out = options_.out_dir;

  nlohmann::json info = json_file(out / "video_info.json");
  const nlohmann::json golden_info =
      json_file(kData / "media" / "golden" / "pico-b__short-0.2s-fps2.json");
  for (const auto& [key, value] : golden_info.items()) EXPECT_EQ(info[key], value) << key;

  EXPECT_EQ(npy(out / "grid_thw.npy").data, npy(kGolden / "grid_thw.npy").data);
  EXPECT_EQ(npy(out / "input_ids.npy").data, npy(kGolden / "input_ids.npy").data);
  EXPECT_EQ(npy(out / "position_ids.npy").data, npy(kGolden / "position_ids.npy").data);

  const io::NpyArray features = npy(out / "vision_features.npy");
  const io::NpyArray golden_features = npy(kGolden / "vision_features.npy");
  ASSERT_EQ(features.shape, golden_features.shape);
  double max_error = 0;
  for (size_t i = 0; i < features.as<float>().size(); ++i)
    max_error = std::max<double>(
        max_error, std::fabs(features.as<float>()[i] - golden_features.as<float>()[i]));
  EXPECT_LE(max_error, 1e-4);

  EXPECT_EQ(npy(out / "prefill_last_logits.npy").shape, (std::vector<int64_t>{151657}));
  EXPECT_EQ(json_file(out / "generated_ids.json"), json_file(kGolden / "generated_ids.json"));
  EXPECT_EQ(read_text(out / "text.txt"), read_text(kGolden / "text.txt"));
}

TEST_F(Inspect, GoldenInputIdsReplaceThePromptAndVideoOnlyStopsBeforeTheModel) {
  options_.input_ids_file = kGolden / "input_ids.npy";
  options_.run_model = false;
  ASSERT_TRUE(run_inspect(options_).ok());
  EXPECT_EQ(npy(options_.out_dir / "position_ids.npy").data,
            npy(kGolden / "position_ids.npy").data);
  EXPECT_FALSE(fs::exists(options_.out_dir / "vision_features.npy"));
}

// A model folder whose template only changes the default system prompt (a fine-tune's) gets
// that system prompt, as transformers renders it; before, vcap always used the official one.
TEST_F(Inspect, TheFoldersSystemPromptIsRendered) {
  const fs::path model = dir_.path() / "model";
  nlohmann::json chat = json_file(model / "chat_template.json");
  std::string text = chat["chat_template"].get<std::string>();
  const std::string official = "You are a helpful assistant.";
  text.replace(text.find(official), official.size(), "You write captions for videos.");
  chat["chat_template"] = text;
  testing::write_text(model / "chat_template.json", chat.dump());
  options_.run_model = false;
  ASSERT_TRUE(run_inspect(options_).ok());
  EXPECT_EQ(
      read_text(options_.out_dir / "prompt.txt")
          .rfind("<|im_start|>system\nYou write captions for videos.<|im_end|>\n<|im_start|>user\n",
                 0),
      0u)
      << read_text(options_.out_dir / "prompt.txt");
}

TEST_F(Inspect, PixelValuesNeedTheirGridAndExcludeAVideo) {
  options_.pixel_values_file = dir_.path() / "pixels.npy";
  Status both = run_inspect(options_);
  EXPECT_EQ(both.code(), StatusCode::kInvalidArgument);

  options_.video.clear();
  Status no_grid = run_inspect(options_);
  EXPECT_EQ(no_grid.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_grid.message().find("--grid"), std::string::npos) << no_grid.message();
}

TEST_F(Inspect, AClipThatCannotBeDecodedNamesTheFile) {
  options_.video = (kData / "media" / "empty.mp4").string();
  Status status = run_inspect(options_);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("empty.mp4"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace vcap::pipeline
