// The golden pico / pico-b models end to end on cuda:0 (spec §14, as tests/model does on the
// CPU): regenerated bit-identically in-process (model/test_model.h), loaded in f32 they give
// the golden generated ids, vision features and prefill logits within 1e-4; loaded in bf16
// they stay within the CPU backend's bf16 budget. Cases come from tests/data/model (those
// that carry their input ids and vision features).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "model/config.h"
#include "model/generator.h"
#include "model/golden_case.h"
#include "model/processor.h"
#include "model/qwen2vl.h"
#include "model/test_model.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;
using testing::read_json;
using testing::read_npy;

fs::path case_dir(const std::string& name) {
  return tensor::gpu_testing::test_data_dir() / "model" / name;
}

// Cases of test model `model` whose prompt and vision features are in tests/data/model.
std::vector<std::string> cases_of(const std::string& model) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(tensor::gpu_testing::test_data_dir() / "model")) {
    const fs::path dir = entry.path();
    if (!fs::exists(dir / "args.json") || !fs::exists(dir / "input_ids.npy") ||
        !fs::exists(dir / "vision_features.npy")) {
      continue;
    }
    if (read_json(dir / "args.json")["model_dir_name"] == model) {
      names.push_back(dir.filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

GenerationRequest golden_request(const std::string& name, const SamplingOptions& sampling) {
  GenerationRequest request;
  request.input_ids = testing::to_token_ids(read_npy(case_dir(name) / "input_ids.npy").as<int64_t>());
  request.video_grids = testing::grids_from_npy(read_npy(case_dir(name) / "grid_thw.npy"));
  request.vision_features = read_npy(case_dir(name) / "vision_features.npy").as<float>();
  request.sampling = sampling;
  request.sampling.max_new_tokens =
      read_json(case_dir(name) / "args.json")["max_new_tokens"].get<int64_t>();
  return request;
}

std::vector<TokenId> golden_ids(const std::string& name) {
  return read_json(case_dir(name) / "generated_ids.json").get<std::vector<TokenId>>();
}

// Max abs difference with the 50 largest golden prefill logits.
float logits_error(const std::string& name, const std::vector<float>& logits) {
  const auto top = read_json(case_dir(name) / "prefill_top50.json");
  EXPECT_EQ(top["vocab"].get<size_t>(), logits.size());
  const auto ids = top["top_ids"].get<std::vector<size_t>>();
  const auto values = top["top_values"].get<std::vector<float>>();
  float worst = 0.0f;
  for (size_t i = 0; i < ids.size() && ids[i] < logits.size(); ++i) {
    worst = std::max(worst, std::abs(logits[ids[i]] - values[i]));
  }
  return worst;
}

class CudaModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (tensor::cuda_device_count() == 0) {
      GTEST_SKIP() << "no CUDA device: " << tensor::cuda_device_summary();
    }
    auto backend = tensor::make_cuda_backend(tensor::CudaBackendOptions{0});
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    backend_ = std::move(*backend);
    dir_ = fs::temp_directory_path() / ("vcap_gpu_model_" + std::to_string(::getpid()));
    // make_test_model refuses a missing parent folder (MakeTestModel.LeavesNothingBehindOnFailure).
    std::error_code made_dir;
    fs::create_directories(dir_, made_dir);
    ASSERT_FALSE(made_dir) << dir_ << ": " << made_dir.message();
    const auto spec = test_model_preset(GetParam());
    ASSERT_TRUE(spec.has_value());
    MakeTestModelOptions options;
    options.side_files_dir = tensor::gpu_testing::test_data_dir() / "qwen2vl";
    const Status made = make_test_model(*spec, dir_ / GetParam(), options);
    ASSERT_TRUE(made.ok()) << made.to_string();
    auto config = load_model_config(dir_ / GetParam());
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    auto sampling = sampling_from_config(config->generation, 200);
    ASSERT_TRUE(sampling.ok()) << sampling.status().to_string();
    sampling_ = *sampling;
  }
  void TearDown() override {
    model_.reset();
    backend_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  const Qwen2VL& load(tensor::Precision precision) {
    auto model = Qwen2VL::load(dir_ / GetParam(), *backend_, precision);
    EXPECT_TRUE(model.ok()) << model.status().to_string();
    if (model.ok()) model_ = std::make_unique<Qwen2VL>(std::move(model).value());
    return *model_;
  }

  std::unique_ptr<tensor::Backend> backend_;
  std::unique_ptr<Qwen2VL> model_;
  fs::path dir_;
  SamplingOptions sampling_;
};

TEST_P(CudaModel, F32GivesTheGoldenIdsLogitsAndFeatures) {
  const Qwen2VL& model = load(tensor::Precision::kF32);
  ASSERT_TRUE(model_ != nullptr);
  const std::vector<std::string> names = cases_of(GetParam());
  ASSERT_FALSE(names.empty()) << "no case of " << GetParam() << " in tests/data/model";
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    GenerationRequest request = golden_request(name, sampling_);
    auto logits = model.prefill_last_logits(request.input_ids, request.video_grids,
                                            request.vision_features);
    ASSERT_TRUE(logits.ok()) << logits.status().to_string();
    const float logits_err = logits_error(name, *logits);
    EXPECT_LE(logits_err, 1e-4f);
    StageTimes times;
    auto result = model.generate(request, &times);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    const std::vector<TokenId> golden = golden_ids(name);
    size_t same = 0;
    while (same < std::min(golden.size(), result->generated_ids.size()) &&
           golden[same] == result->generated_ids[same]) {
      ++same;
    }
    std::printf("[gpu parity f32] %s prefill logits max abs %.3g, generated ids identical %zu/%zu\n",
                name.c_str(), logits_err, same, golden.size());
    EXPECT_EQ(result->generated_ids, golden);
    EXPECT_EQ(times.tokens_chosen_on_host, 0);  // each decided on the GPU (process_scores)
    // Vision from the golden frames (the processor's pixel values), when the case has them.
    const fs::path frames_file = case_dir(name) / "frames_resized_u8.npy";
    if (!fs::exists(frames_file)) continue;
    const auto frames = read_npy(frames_file);
    ASSERT_EQ(frames.shape.size(), 4u);
    const VideoFramesView view{reinterpret_cast<const uint8_t*>(frames.bytes.data()),
                               frames.shape[0], frames.shape[2], frames.shape[3]};
    auto pixels = preprocess_video(view, PreprocessorConfig{});
    ASSERT_TRUE(pixels.ok()) << pixels.status().to_string();
    auto features = model.vision_features(pixels->values, request.video_grids);
    ASSERT_TRUE(features.ok()) << features.status().to_string();
    float worst = 0.0f;
    for (size_t i = 0; i < features->size(); ++i) {
      worst = std::max(worst, std::abs((*features)[i] - request.vision_features[i]));
    }
    ASSERT_EQ(features->size(), request.vision_features.size());
    std::printf("[gpu parity f32] %s vision features max abs %.3g\n", name.c_str(), worst);
    EXPECT_LE(worst, 1e-4f);
  }
}

// Two copies of a case in one batch of two: batched decode (several attention blocks per step)
// gives each the golden ids.
TEST_P(CudaModel, F32BatchOfTwoGivesEachTheGoldenIds) {
  const Qwen2VL& model = load(tensor::Precision::kF32);
  ASSERT_TRUE(model_ != nullptr);
  const std::string name = cases_of(GetParam()).front();
  Generator generator(model, {2});
  for (uint64_t id = 0; id < 2; ++id) {
    GenerationRequest request = golden_request(name, sampling_);
    request.id = id;
    ASSERT_TRUE(generator.add(std::move(request)).ok());
  }
  std::map<uint64_t, std::vector<TokenId>> ids;
  while (!generator.idle()) {
    auto finished = generator.step();
    ASSERT_TRUE(finished.ok()) << finished.status().to_string();
    for (auto& r : *finished) {
      ASSERT_TRUE(r.status.ok()) << r.status.to_string();
      ids[r.id] = r.generated_ids;
    }
  }
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], golden_ids(name));
  EXPECT_EQ(ids[1], golden_ids(name));
}

// The CPU backend's bf16 budget (tests/model/qwen2vl_parity_test.cpp): logits within 0.25 and
// teacher-forced top-1 agreement of at least 85% (the random models have flat logits).
TEST_P(CudaModel, Bf16StaysWithinTheCpuBudget) {
  const Qwen2VL& model = load(tensor::Precision::kBF16);
  ASSERT_TRUE(model_ != nullptr);
  size_t steps = 0, agree = 0;
  float worst_logits = 0.0f;
  for (const std::string& name : cases_of(GetParam())) {
    SCOPED_TRACE(name);
    GenerationRequest request = golden_request(name, sampling_);
    auto logits = model.prefill_last_logits(request.input_ids, request.video_grids,
                                            request.vision_features);
    ASSERT_TRUE(logits.ok()) << logits.status().to_string();
    worst_logits = std::max(worst_logits, logits_error(name, *logits));
    const std::vector<TokenId> golden = golden_ids(name);
    request.forced_ids = golden;
    auto result = model.generate(std::move(request));
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    for (size_t i = 0; i < std::min(golden.size(), result->generated_ids.size()); ++i) {
      agree += golden[i] == result->generated_ids[i];
    }
    steps += golden.size();
  }
  std::printf("[gpu parity bf16] %s: logits max abs %.3g, top-1 agreement %zu/%zu\n",
              GetParam().c_str(), worst_logits, agree, steps);
  EXPECT_LE(worst_logits, 0.25f);
  EXPECT_GE(agree * 100, steps * 85);
}

INSTANTIATE_TEST_SUITE_P(GoldenModels, CudaModel, ::testing::Values("pico", "pico-b"),
                         [](const auto& info) {
                           return info.param == "pico" ? std::string("Pico") : "PicoB";
                         });

}  // namespace
}  // namespace vcap::model
