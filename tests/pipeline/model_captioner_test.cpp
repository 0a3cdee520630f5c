#include "pipeline/model_captioner.h"

#include <gtest/gtest.h>

#include "media/clip.h"
#include "pipeline/test_dir.h"
#include "pipeline/test_model_dir.h"

namespace vcap::pipeline {
namespace {

// The chunk sizes the captioner gives the model per device: the CPU keeps the defaults
// (activation memory is the machine's), a GPU takes model::ChunkOptions::for_gpu().
TEST(ChunksForDevice, CpuKeepsTheDefaultsAndGpusTakeLargePrefillChunks) {
  const model::ChunkOptions defaults;
  const model::ChunkOptions cpu = chunks_for_device("cpu");
  EXPECT_EQ(cpu.vision_rows, defaults.vision_rows);
  EXPECT_EQ(cpu.prefill_rows, defaults.prefill_rows);
  for (const char* device : {"cuda", "cuda:0", "cuda:3"}) {
    const model::ChunkOptions gpu = chunks_for_device(device);
    EXPECT_EQ(gpu.vision_rows, model::ChunkOptions::for_gpu().vision_rows) << device;
    EXPECT_EQ(gpu.prefill_rows, model::ChunkOptions::for_gpu().prefill_rows) << device;
    // The default 10 s clip's 7,306-token prompt in one chunk.
    EXPECT_GE(gpu.prefill_rows, 7306) << device;
  }
}

// The pico-b test model, made in `dir`, loaded on one CPU thread at `precision`.
Result<std::unique_ptr<ModelCaptioner>> pico_b_captioner(const std::filesystem::path& dir,
                                                         Precision precision = Precision::kBf16) {
  if (Status made = testing::make_test_model_dir("pico-b", dir / "model"); !made.ok()) return made;
  CaptionOptions options;
  options.model = (dir / "model").string();
  options.threads = 1;
  options.precision = precision;
  return ModelCaptionerFactory(options).create_model_captioner();
}

// The decode threads reserve a clip's host memory from its plan (caption_engine.h): the plan's
// figure must be what prepare() really holds, frames and pixel values, before the frames go.
TEST(ModelCaptioner, PlannedHostMemoryIsTheFramesPlusWhatThePreparedClipHolds) {
  testing::TestDir dir;
  Result<std::unique_ptr<ModelCaptioner>> captioner = pico_b_captioner(dir.path());
  ASSERT_TRUE(captioner.ok()) << captioner.status().to_string();
  const std::filesystem::path file =
      std::filesystem::path(VCAP_TEST_DATA_DIR) / "media" / "bear-vp9.webm";
  const ClipJob job{0, file.string(), file};
  const ClipSettings settings{2.0, 112 * 168};
  const ClipValue<ClipCost> cost = (*captioner)->plan(job, settings);
  ASSERT_TRUE(cost.outcome.ok()) << cost.outcome.message;
  ClipValue<std::unique_ptr<PreparedClip>> prepared = (*captioner)->prepare(job, settings);
  ASSERT_TRUE(prepared.outcome.ok()) << prepared.outcome.message;

  media::DecodeOptions decode;
  decode.fps = settings.fps;
  decode.max_pixels = settings.max_pixels;
  const media::ClipResult<media::ClipPlan> plan = media::estimate_plan(file.string(), decode);
  ASSERT_TRUE(plan.ok());
  const auto frame_bytes =
      static_cast<uint64_t>(plan->nframes * 3 * plan->resized_height * plan->resized_width);
  const model::VisionDims& vision = (*captioner)->model().dims().vision;
  const media::VisualGrid grid =
      media::visual_grid(*plan, {vision.patch_size, vision.temporal_patch_size, vision.merge_size});
  const auto pixel_bytes =
      static_cast<uint64_t>((*captioner)->model().pixel_values_bytes(grid.patches));
  const uint64_t held = prepared.value->host_bytes();
  EXPECT_GE(held, pixel_bytes);
  EXPECT_LT(held - pixel_bytes, uint64_t{16} << 10);  // the prompt ids
  EXPECT_EQ(cost.value.prepare_bytes, frame_bytes + pixel_bytes);
}

// Frames under the model's preprocessor bounds (a small --height x --width on a clip whose sides
// floor well under the cap) would be resized a second time by transformers' processor: the clip
// is refused as unsupported, saying which flags to raise, instead of captioned from other pixels.
TEST(ModelCaptioner, FramesOutsideTheProcessorsBoundsAreUnsupported) {
  testing::TestDir dir;
  const std::filesystem::path model = dir.path() / "model";
  ASSERT_TRUE(testing::make_test_model_dir("pico-b", model).ok());
  testing::write_text(model / "preprocessor_config.json",
                      R"({"min_pixels": 20000, "max_pixels": 12845056, "patch_size": 14,
                          "temporal_patch_size": 2, "merge_size": 2})");
  CaptionOptions options;
  options.model = model.string();
  options.threads = 1;
  options.height = 112;  // a cap of 18816 pixels: under the floor too, so the run may start
  options.width = 168;
  Result<std::unique_ptr<ModelCaptioner>> captioner =
      ModelCaptionerFactory(options).create_model_captioner();
  ASSERT_TRUE(captioner.ok()) << captioner.status().to_string();
  const std::filesystem::path file =
      std::filesystem::path(VCAP_TEST_DATA_DIR) / "media" / "bear-vp9.webm";
  const ClipValue<ClipCost> cost = (*captioner)->plan({0, file.string(), file}, {2.0, 112 * 168});
  EXPECT_EQ(cost.outcome.status, ClipStatus::kUnsupported);
  EXPECT_EQ(cost.outcome.message,
            "frames of 112x140 are outside the model's 20000..12845056 pixels "
            "(preprocessor_config.json): transformers' processor would resize them a second "
            "time, which vcap does not; raise --height and --width");
}

// The model identity (part of the run fingerprint) names a folder's own system prompt, which
// changes every prompt; an official template adds nothing, so the official models' fingerprints
// are those of earlier versions.
TEST(ModelIdentity, NamesASystemPromptOtherThanTheDefault) {
  testing::TestDir dir;
  ASSERT_TRUE(testing::make_test_model_dir("pico", dir.path() / "model").ok());
  CaptionOptions options;
  options.model = (dir.path() / "model").string();
  const auto identity = [&options] {
    Result<std::string> id = ModelCaptionerFactory(options).model_identity();
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    return id.ok() ? *id : std::string();
  };
  const std::string official = identity();
  EXPECT_EQ(official.find("system_prompt"), std::string::npos) << official;
  const std::filesystem::path file = dir.path() / "model" / "chat_template.json";
  const std::string text = testing::read_text(file);
  std::string tuned = text;
  const std::string prompt = "You are a helpful assistant.";
  tuned.replace(tuned.find(prompt), prompt.size(), "You caption videos.");
  testing::write_text(file, tuned);
  EXPECT_NE(identity().find("\"system_prompt\":\"You caption videos.\""), std::string::npos);
  testing::write_text(file, text);
  EXPECT_EQ(identity(), official);
}

// The identity (the run's fingerprint) and the captioner's prompt come from one read of the
// chat template: a template changed between the two cannot give a run a fingerprint for one
// prompt while it renders another. Before, each read the folder again.
TEST(ModelIdentity, AndThePromptComeFromTheSameReadOfTheChatTemplate) {
  testing::TestDir dir;
  ASSERT_TRUE(testing::make_test_model_dir("pico", dir.path() / "model").ok());
  CaptionOptions options;
  options.model = (dir.path() / "model").string();
  options.threads = 1;
  ModelCaptionerFactory factory(options);
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  factory.set_log(log);
  Result<std::string> identity = factory.model_identity();
  ASSERT_TRUE(identity.ok()) << identity.status().to_string();
  EXPECT_EQ(identity->find("system_prompt"), std::string::npos) << *identity;
  testing::write_text(dir.path() / "model" / "chat_template.json",
                      R"({"chat_template": "{{ messages[0]['content'] }}"})");
  Result<std::unique_ptr<ModelCaptioner>> captioner = factory.create_model_captioner();
  ASSERT_TRUE(captioner.ok()) << captioner.status().to_string();
  std::rewind(log);
  std::string logged;
  for (int c = std::fgetc(log); c != EOF; c = std::fgetc(log)) logged += static_cast<char>(c);
  std::fclose(log);
  EXPECT_EQ(logged.find("is not the official Qwen2-VL one"), std::string::npos) << logged;
}

TEST(CheckWeightsFit, AModelLargerThanTheDeviceIsRefusedWithBothSizes) {
  EXPECT_TRUE(check_weights_fit(100, 100, "cuda:0").ok());
  const Status gpu = check_weights_fit(uint64_t{146} << 30, uint64_t{78} << 30, "cuda:1");
  EXPECT_EQ(gpu.code(), StatusCode::kUnsupported);
  EXPECT_NE(gpu.message().find("weights take 146.0 GiB and cuda:1 has 78.0 GiB free"),
            std::string::npos)
      << gpu.message();
  const Status cpu = check_weights_fit(uint64_t{20} << 30, uint64_t{8} << 30, "cpu");
  EXPECT_NE(cpu.message().find("this machine has 8.0 GiB of free memory"), std::string::npos)
      << cpu.message();
}

// The figure the check uses, from the headers, is what loading really takes.
TEST(WeightBytesNeeded, IsWhatTheLoadedWeightsTake) {
  for (const Precision precision : {Precision::kF32, Precision::kBf16}) {
    testing::TestDir dir;
    Result<std::unique_ptr<ModelCaptioner>> captioner = pico_b_captioner(dir.path(), precision);
    ASSERT_TRUE(captioner.ok()) << captioner.status().to_string();
    const tensor::Precision loaded = (*captioner)->model().precision();
    Result<uint64_t> needed = model::Qwen2VL::weight_bytes_needed(dir.path() / "model", loaded);
    ASSERT_TRUE(needed.ok());
    const auto taken = static_cast<double>((*captioner)->model().weight_bytes());
    EXPECT_NEAR(static_cast<double>(*needed), taken, 0.02 * taken);
  }
}

}  // namespace
}  // namespace vcap::pipeline
