// Parity of the f32 path with the golden reference (../shared/golden, spec §14): every stage
// fed with the golden input of that stage. Cases whose arrays are only in ../shared are skipped
// with a message when it is absent; tests/data/model holds one small case end to end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "golden_case.h"
#include "model/config.h"
#include "model/generator.h"
#include "model/processor.h"
#include "model/qwen2vl.h"
#include "model/test_model.h"
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

// Max abs difference with the golden prefill logits: the whole array from ../shared when
// present, else its 50 largest entries (tests/data/model/<case>/prefill_top50.json).
float logits_error(const std::string& name, const std::vector<float>& logits) {
  if (const auto full = find_case_file(name, "prefill_last_logits.npy")) {
    const auto golden = read_npy(*full).as<float>();
    EXPECT_EQ(golden.size(), logits.size());
    return max_abs_diff(logits, golden);
  }
  const auto top = read_json(*find_case_file(name, "prefill_top50.json"));
  EXPECT_EQ(top["vocab"].get<size_t>(), logits.size());
  float worst = 0.0f;
  const auto ids = top["top_ids"].get<std::vector<size_t>>();
  const auto values = top["top_values"].get<std::vector<float>>();
  for (size_t i = 0; i < ids.size() && ids[i] < logits.size(); ++i) {
    worst = std::max(worst, std::abs(logits[ids[i]] - values[i]));
  }
  return worst;
}

// The golden cases of test model `model` ("pico" or "pico-b"): every case has its args.json
// copied into tests/data/model, which names the model.
std::vector<std::string> cases_of(const std::string& model) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(testing::repo_golden_dir())) {
    const auto args = entry.path() / "args.json";
    if (std::filesystem::exists(args) && read_json(args)["model_dir_name"] == model) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// True when case `name` has every file in `files` (tests/data/model or ../shared); otherwise
// prints why the case is skipped.
bool case_has(const std::string& name, std::initializer_list<const char*> files) {
  for (const char* f : files) {
    if (!find_case_file(name, f)) {
      std::printf("[parity] %s: %s only in ../shared (absent): case skipped\n", name.c_str(), f);
      return false;
    }
  }
  return true;
}

// A request fed with the golden ids and vision features of case `name`.
GenerationRequest golden_request(const std::string& name, const SamplingOptions& sampling) {
  GenerationRequest request;
  request.input_ids =
      testing::to_token_ids(read_npy(*find_case_file(name, "input_ids.npy")).as<int64_t>());
  request.video_grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
  request.vision_features = read_npy(*find_case_file(name, "vision_features.npy")).as<float>();
  request.sampling = sampling;
  request.sampling.max_new_tokens =
      read_json(*find_case_file(name, "args.json"))["max_new_tokens"].get<int64_t>();
  return request;
}

std::vector<TokenId> golden_ids(const std::string& name) {
  return read_json(*find_case_file(name, "generated_ids.json")).get<std::vector<TokenId>>();
}

// Both golden test models, regenerated bit-identically by the portable generator
// (model/test_model.h) into a temporary directory, loaded in f32 and bf16.
struct LoadedModel {
  std::unique_ptr<Qwen2VL> f32;
  std::unique_ptr<Qwen2VL> bf16;
  SamplingOptions sampling;
};

class Parity : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    // One thread: the suite runs beside other tests on 2 shared cores, where idle OpenMP
    // workers only spin.
    auto backend = tensor::make_backend({"cpu", 1});
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    backend_ = std::move(backend).value();
    dir_ = std::filesystem::temp_directory_path() /
           ("vcap_model_parity_" + std::to_string(::getpid()));
    for (const std::string name : {"pico", "pico-b"}) {
      const auto spec = test_model_preset(name);
      ASSERT_TRUE(spec.has_value());
      MakeTestModelOptions options;
      options.side_files_dir = std::filesystem::path(VCAP_TEST_DATA_DIR) / "qwen2vl";
      std::filesystem::create_directories(dir_);
      const Status made = make_test_model(*spec, dir_ / name, options);
      ASSERT_TRUE(made.ok()) << made.to_string();
      LoadedModel loaded;
      for (const auto precision : {tensor::Precision::kF32, tensor::Precision::kBF16}) {
        auto model = Qwen2VL::load(dir_ / name, *backend_, precision);
        ASSERT_TRUE(model.ok()) << model.status().to_string();
        (precision == tensor::Precision::kF32 ? loaded.f32 : loaded.bf16) =
            std::make_unique<Qwen2VL>(std::move(model).value());
      }
      auto config = load_model_config(dir_ / name);
      ASSERT_TRUE(config.ok()) << config.status().to_string();
      auto sampling = sampling_from_config(config->generation, 200);
      ASSERT_TRUE(sampling.ok()) << sampling.status().to_string();
      loaded.sampling = *sampling;
      models_[name] = std::move(loaded);
    }
  }
  static void TearDownTestSuite() {
    models_.clear();
    backend_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void SetUp() override {
    ASSERT_TRUE(models_.count(GetParam())) << "model " << GetParam() << " did not load";
  }
  const Qwen2VL& model() { return *models_[GetParam()].f32; }
  const Qwen2VL& bf16() { return *models_[GetParam()].bf16; }
  const SamplingOptions& sampling() { return models_[GetParam()].sampling; }

  static std::unique_ptr<tensor::Backend> backend_;
  static std::filesystem::path dir_;
  static std::map<std::string, LoadedModel> models_;
};
std::unique_ptr<tensor::Backend> Parity::backend_;
std::filesystem::path Parity::dir_;
std::map<std::string, LoadedModel> Parity::models_;

TEST_P(Parity, VisionFeaturesFromGoldenPixelValuesWithin1e4) {
  int checked = 0;
  for (const std::string& name : cases_of(GetParam())) {
    SCOPED_TRACE(name);
    const auto grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    std::vector<float> pixels;
    if (const auto file = find_case_file(name, "pixel_values.npy")) {
      pixels = read_npy(*file).as<float>();
    } else if (const auto frames = find_case_file(name, "frames_resized_u8.npy")) {
      // In-repo: rebuild pixel_values from the golden resized frames [T, 3, H, W].
      const auto array = read_npy(*frames);
      ASSERT_EQ(array.shape.size(), 4u);
      const VideoFramesView view{reinterpret_cast<const uint8_t*>(array.bytes.data()),
                                 array.shape[0], array.shape[2], array.shape[3]};
      auto processed = preprocess_video(view, PreprocessorConfig{});
      ASSERT_TRUE(processed.ok()) << processed.status().to_string();
      pixels = std::move(processed->values);
    } else {
      continue;  // the reference left both arrays out (> 8 MB)
    }
    auto features = model().vision_features(pixels, grids);
    ASSERT_TRUE(features.ok()) << features.status().to_string();
    const auto golden = read_npy(*find_case_file(name, "vision_features.npy")).as<float>();
    const float err = max_abs_diff(*features, golden);
    std::printf("[parity f32] %s vision_features max abs %.3g\n", name.c_str(), err);
    EXPECT_LE(err, 1e-4f);
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no pixel_values or frames of this model without ../shared";
}

std::vector<float> downloaded(const Qwen2VL& model, const tensor::Tensor& t) {
  std::vector<float> host(static_cast<size_t>(t.rows() * t.cols()));
  model.backend().download(t.view(), host);
  EXPECT_TRUE(model.backend().synchronize().ok());
  return host;
}

// The generator hands a batch's pixel_values over as one part per clip, never copied together,
// and in bf16 to a bf16 model: the features must be those of the concatenated f32 rows, bit for
// bit, wherever the parts split.
TEST_P(Parity, VisionFeaturesOfPixelPartsEqualThoseOfTheWholeRows) {
  const int64_t features = model().dims().vision.patch_features();
  const std::vector<VisionGrid> grids = {{2, 4, 4}, {1, 2, 6}};
  const int64_t rows = 2 * 4 * 4 + 1 * 2 * 6;
  std::vector<float> whole(static_cast<size_t>(rows * features));
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = std::sin(0.37f * static_cast<float>(i));
  std::vector<uint16_t> whole_bf16(whole.size());
  for (size_t i = 0; i < whole.size(); ++i) whole_bf16[i] = tensor::f32_to_bf16(whole[i]);
  for (const Qwen2VL* m : {&model(), &bf16()}) {
    const bool in_bf16 = m->pixel_dtype() == tensor::HostDType::kBF16;
    SCOPED_TRACE(in_bf16 ? "bf16 model, bf16 parts" : "f32 model, f32 parts");
    auto expected = m->encode_video(whole, grids);
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    const auto rows_of = [&](int64_t first, int64_t n) {
      const size_t at = static_cast<size_t>(first * features);
      const void* data = in_bf16 ? static_cast<const void*>(&whole_bf16[at])
                                 : static_cast<const void*>(&whole[at]);
      return tensor::HostMatrix{data, m->pixel_dtype(), n, features};
    };
    for (const std::vector<tensor::HostMatrix>& parts :
         {std::vector{rows_of(0, 32), rows_of(32, 12)},                     // one per clip
          std::vector{rows_of(0, 5), rows_of(5, 0), rows_of(5, 39)},        // inside a frame pair
          std::vector{rows_of(0, 16), rows_of(16, 20), rows_of(36, 8)}}) {  // across clips
      auto got = m->encode_video(parts, grids);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(downloaded(*m, *expected), downloaded(*m, *got));
    }
    const std::vector<tensor::HostMatrix> too_few = {rows_of(0, 43)};
    EXPECT_EQ(m->encode_video(too_few, grids).status().code(), StatusCode::kInvalidArgument);
    std::vector<tensor::HostMatrix> too_narrow = {rows_of(0, 44)};
    too_narrow[0].cols -= 1;
    EXPECT_EQ(m->encode_video(too_narrow, grids).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_P(Parity, PrefillLogitsFromGoldenIdsAndFeaturesWithin1e4) {
  int checked = 0;
  for (const std::string& name : cases_of(GetParam())) {
    if (!case_has(name, {"input_ids.npy", "vision_features.npy"})) continue;
    SCOPED_TRACE(name);
    const auto features_file = find_case_file(name, "vision_features.npy");
    const auto ids =
        testing::to_token_ids(read_npy(*find_case_file(name, "input_ids.npy")).as<int64_t>());
    const auto grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    auto logits = model().prefill_last_logits(ids, grids, read_npy(*features_file).as<float>());
    ASSERT_TRUE(logits.ok()) << logits.status().to_string();
    const float err = logits_error(name, *logits);
    std::printf("[parity f32] %s prefill_last_logits max abs %.3g\n", name.c_str(), err);
    EXPECT_LE(err, 1e-4f);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST_P(Parity, GeneratedIdsEqualTheGoldenOnes) {
  for (const std::string& name : cases_of(GetParam())) {
    if (!case_has(name, {"input_ids.npy", "vision_features.npy"})) continue;
    SCOPED_TRACE(name);
    StageTimes times;
    auto result = model().generate(golden_request(name, sampling()), &times);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    const std::vector<TokenId> golden = golden_ids(name);
    size_t same = 0;
    while (same < std::min(golden.size(), result->generated_ids.size()) &&
           golden[same] == result->generated_ids[same]) {
      ++same;
    }
    std::printf("[parity f32] %s generated ids identical %zu/%zu (prefill %.2f s, decode %.2f s)\n",
                name.c_str(), same, golden.size(), times.prefill_s, times.decode_s);
    EXPECT_EQ(result->generated_ids, golden);
    // Qwen2-VL's settings: every token decided by the rows' largest scores alone.
    EXPECT_EQ(times.tokens_chosen_on_host, 0);
    EXPECT_EQ(times.generated_tokens, static_cast<int64_t>(golden.size()));
    const auto summary = read_json(*find_case_file(name, "summary.json"));
    EXPECT_EQ(result->stopped_on_eos, summary["stopped_on_eos"].get<bool>());
  }
}

// Continuous batching, on pico only (its three short cases): three clips through a batch of
// two (the third joins when the first leaves) give exactly the ids of batch 1 (= the golden
// ids, f32).
class PicoBatching : public Parity {};

TEST_P(PicoBatching, BatchedGenerationEqualsOneAtATime) {
  const std::vector<std::string> names = {"pico__asl-book-fps1-small", "pico__bear-vp9",
                                          "pico__classroom-gif"};
  Generator generator(model(), {2});
  for (size_t i = 0; i < names.size(); ++i) {
    if (!find_case_file(names[i], "input_ids.npy"))
      GTEST_SKIP() << names[i] << ": ../shared absent";
    GenerationRequest request = golden_request(names[i], sampling());
    request.id = i;
    ASSERT_TRUE(generator.add(std::move(request)).ok());
  }
  std::vector<std::vector<TokenId>> ids(names.size());
  size_t max_active = 0;
  while (!generator.idle()) {
    auto finished = generator.step();
    ASSERT_TRUE(finished.ok()) << finished.status().to_string();
    max_active = std::max(max_active, generator.active());
    for (auto& r : *finished) {
      ASSERT_TRUE(r.status.ok()) << r.status.to_string();
      ids[r.id] = r.generated_ids;
    }
  }
  EXPECT_EQ(max_active, 2u);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(ids[i], golden_ids(names[i])) << names[i];
  EXPECT_EQ(generator.times().tokens_chosen_on_host, 0);
}

// Sampling without top-k (no golden ids: vcap's random stream is its own): the largest score
// never decides, every token is chosen from its whole row on the host, and a sequence's tokens
// do not depend on its batch.
TEST_P(PicoBatching, WideSamplingIsChosenOnTheHostWhateverTheBatch) {
  const std::vector<std::string> names = {"pico__asl-book-fps1-small", "pico__bear-vp9"};
  SamplingOptions sampling;
  sampling.do_sample = true;
  sampling.temperature = 1.5f;
  sampling.repetition_penalty = 1.05f;
  std::vector<std::vector<TokenId>> alone(names.size()), together(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (!find_case_file(names[i], "input_ids.npy"))
      GTEST_SKIP() << names[i] << ": ../shared absent";
    sampling.seed = 100 + i;
    StageTimes times;
    auto result = model().generate(golden_request(names[i], sampling), &times);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    alone[i] = result->generated_ids;
    EXPECT_GT(times.generated_tokens, 0);
    EXPECT_EQ(times.tokens_chosen_on_host, times.generated_tokens);
  }
  Generator generator(model(), {2});
  for (size_t i = 0; i < names.size(); ++i) {
    sampling.seed = 100 + i;
    GenerationRequest request = golden_request(names[i], sampling);
    request.id = i;
    ASSERT_TRUE(generator.add(std::move(request)).ok());
  }
  while (!generator.idle()) {
    auto finished = generator.step();
    ASSERT_TRUE(finished.ok()) << finished.status().to_string();
    for (auto& r : *finished) together[r.id] = r.generated_ids;
  }
  EXPECT_EQ(together, alone);
}

// A bad request fails alone; the others in its batch still finish.
TEST_P(Parity, ABadRequestFailsAloneInItsBatch) {
  const std::string name = cases_of(GetParam()).front();
  if (!case_has(name, {"input_ids.npy", "vision_features.npy"})) GTEST_SKIP();
  Generator generator(model(), {2});
  GenerationRequest bad = golden_request(name, sampling());
  bad.id = 7;
  bad.vision_features.resize(bad.vision_features.size() - 1);  // one value short
  ASSERT_TRUE(generator.add(std::move(bad)).ok());
  GenerationRequest good = golden_request(name, sampling());
  good.id = 8;
  ASSERT_TRUE(generator.add(std::move(good)).ok());
  std::map<uint64_t, GenerationResult> results;
  while (!generator.idle()) {
    auto finished = generator.step();
    ASSERT_TRUE(finished.ok());
    for (auto& r : *finished) results[r.id] = std::move(r);
  }
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[7].status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[8].status.ok());
  EXPECT_EQ(results[8].generated_ids, golden_ids(name));
}

// bf16 weights (the fast path) against the f32 golden: logits error, and top-1 agreement with
// teacher forcing (the golden token is fed at every step, so one flip does not derail the
// rest). The golden checkpoints store bf16 (pico) or f32 (pico-b) weights; bf16 compute rounds
// every matmul input to 8 significant bits (relative error up to 2^-9), which moves the pico
// logits (std ~1.7, max ~7) by 0.04-0.07 (measured), against top-1 margins that are often
// below 0.05 in these random models (steps_top5.json): a few teacher-forced steps flip.
// Measured over all seven cases: 433 of 440 steps agree (98.4%, with bf16 attention
// products and a bf16 KV cache); the issue asks >= 95%.
// To keep the suite fast the two long prompts (> 2000 tokens) are left out here.
TEST_P(Parity, Bf16DeviationStaysWithinTheBudget) {
  size_t steps = 0;
  size_t agree = 0;
  float worst_logits = 0.0f;
  for (const std::string& name : cases_of(GetParam())) {
    if (!case_has(name, {"input_ids.npy", "vision_features.npy"})) continue;
    if (read_json(*find_case_file(name, "summary.json"))["prompt_len"].get<int64_t>() > 2000) {
      continue;
    }
    SCOPED_TRACE(name);
    GenerationRequest request = golden_request(name, sampling());
    auto logits =
        bf16().prefill_last_logits(request.input_ids, request.video_grids, request.vision_features);
    ASSERT_TRUE(logits.ok()) << logits.status().to_string();
    const float err = logits_error(name, *logits);
    worst_logits = std::max(worst_logits, err);
    const std::vector<TokenId> golden = golden_ids(name);
    request.forced_ids = golden;
    auto result = bf16().generate(std::move(request));
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    size_t case_agree = 0;
    for (size_t i = 0; i < std::min(golden.size(), result->generated_ids.size()); ++i) {
      case_agree += golden[i] == result->generated_ids[i];
    }
    std::printf("[parity bf16] %s prefill logits max abs %.3g, top-1 agreement %zu/%zu\n",
                name.c_str(), err, case_agree, golden.size());
    steps += golden.size();
    agree += case_agree;
  }
  std::printf("[parity bf16] all cases: logits max abs %.3g, top-1 agreement %zu/%zu (%.1f%%)\n",
              worst_logits, agree, steps, 100.0 * agree / std::max<size_t>(steps, 1));
  EXPECT_LE(worst_logits, 0.25f);
  EXPECT_GE(agree * 100, steps * 95);
}

INSTANTIATE_TEST_SUITE_P(GoldenModels, Parity, ::testing::Values("pico", "pico-b"),
                         [](const auto& info) {
                           return info.param == "pico" ? std::string("Pico") : "PicoB";
                         });
INSTANTIATE_TEST_SUITE_P(GoldenModels, PicoBatching, ::testing::Values("pico"),
                         [](const auto&) { return std::string("Pico"); });

}  // namespace
}  // namespace vcap::model
