// Parity of the f32 path with the golden reference (../shared/golden, spec §14): every stage
// fed with the golden input of that stage. Cases whose arrays are only in ../shared are skipped
// with a message when it is absent; tests/data/model holds one small case end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "golden_case.h"
#include "model/generator.h"
#include "model/qwen2vl.h"
#include "tensor/cpu/backend_factory.h"

namespace vcap::model {
namespace {

using testing::find_case_file;
using testing::read_json;
using testing::read_npy;

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  return worst;
}

// The pico cases (model golden/models/pico, real bf16 weights in ../shared).
std::vector<std::string> pico_cases() {
  if (!testing::have_shared()) return {"pico__asl-book-fps1-small"};
  std::vector<std::string> names;
  const nlohmann::json cases = read_json(testing::shared_golden_dir() / "cases.json");
  for (const auto& [name, info] : cases.items()) {
    if (info["model"] == "golden/models/pico") names.push_back(name);
  }
  return names;
}

class PicoParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto dir = testing::shared_golden_dir() / "models" / "pico";
    if (!std::filesystem::exists(dir / "model.safetensors")) return;
    auto backend = tensor::make_backend({"cpu", 0});
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    backend_ = std::move(backend).value();
    auto model = Qwen2VL::load(dir, *backend_, tensor::Precision::kF32);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    model_ = std::make_unique<Qwen2VL>(std::move(model).value());
    auto sampling = load_sampling_options(dir / "generation_config.json", 200);
    ASSERT_TRUE(sampling.ok()) << sampling.status().to_string();
    sampling_ = *sampling;
  }
  static void TearDownTestSuite() {
    model_.reset();
    backend_.reset();
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "../shared/golden/models/pico absent: pico parity skipped";
  }

  static std::unique_ptr<tensor::Backend> backend_;
  static std::unique_ptr<Qwen2VL> model_;
  static SamplingOptions sampling_;
};
std::unique_ptr<tensor::Backend> PicoParity::backend_;
std::unique_ptr<Qwen2VL> PicoParity::model_;
SamplingOptions PicoParity::sampling_;

TEST_F(PicoParity, VisionFeaturesFromGoldenPixelValuesWithin1e4) {
  int checked = 0;
  for (const std::string& name : pico_cases()) {
    const auto pixels = find_case_file(name, "pixel_values.npy");
    if (!pixels) continue;  // the reference left this array out (> 8 MB)
    SCOPED_TRACE(name);
    const auto grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    auto features = model_->vision_features(read_npy(*pixels).as<float>(), grids);
    ASSERT_TRUE(features.ok()) << features.status().to_string();
    const auto golden = read_npy(*find_case_file(name, "vision_features.npy")).as<float>();
    const float err = max_abs_diff(*features, golden);
    std::printf("[parity f32] %s vision_features max abs %.3g\n", name.c_str(), err);
    EXPECT_LE(err, 1e-4f);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST_F(PicoParity, PrefillLogitsFromGoldenIdsAndFeaturesWithin1e4) {
  for (const std::string& name : pico_cases()) {
    const auto logits_file = find_case_file(name, "prefill_last_logits.npy");
    const auto features_file = find_case_file(name, "vision_features.npy");
    if (!logits_file || !features_file) {
      ADD_FAILURE() << name << ": golden logits or features missing";
      continue;
    }
    SCOPED_TRACE(name);
    const auto ids = testing::to_token_ids(
        read_npy(*find_case_file(name, "input_ids.npy")).as<int64_t>());
    const auto grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    auto logits = model_->prefill_last_logits(ids, grids, read_npy(*features_file).as<float>());
    ASSERT_TRUE(logits.ok()) << logits.status().to_string();
    const float err = max_abs_diff(*logits, read_npy(*logits_file).as<float>());
    std::printf("[parity f32] %s prefill_last_logits max abs %.3g\n", name.c_str(), err);
    EXPECT_LE(err, 1e-4f);
  }
}

TEST_F(PicoParity, GeneratedIdsEqualTheGoldenOnes) {
  for (const std::string& name : pico_cases()) {
    SCOPED_TRACE(name);
    const auto summary = read_json(*find_case_file(name, "summary.json"));
    const auto args = read_json(*find_case_file(name, "args.json"));
    GenerationRequest request;
    request.input_ids = testing::to_token_ids(
        read_npy(*find_case_file(name, "input_ids.npy")).as<int64_t>());
    request.video_grids =
        testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    request.vision_features = read_npy(*find_case_file(name, "vision_features.npy")).as<float>();
    request.sampling = sampling_;
    request.sampling.max_new_tokens = args["max_new_tokens"].get<int64_t>();
    auto result = model_->generate(std::move(request));
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    const auto golden = summary["generated_ids"].get<std::vector<TokenId>>();
    size_t same = 0;
    while (same < std::min(golden.size(), result->generated_ids.size()) &&
           golden[same] == result->generated_ids[same]) {
      ++same;
    }
    std::printf("[parity f32] %s generated ids identical %zu/%zu\n", name.c_str(), same,
                golden.size());
    EXPECT_EQ(result->generated_ids, golden);
    EXPECT_EQ(result->stopped_on_eos, summary["stopped_on_eos"].get<bool>());
  }
}

}  // namespace
}  // namespace vcap::model
