#include "model/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
#include "io/temp_dir.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

const fs::path kData = VCAP_TEST_DATA_DIR;

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_json(const fs::path& path, const json& value) {
  testing::write_text_file(path, value.dump(2));
}

json pico_config() { return read_json(kData / "model/pico/config.json"); }

// A model directory holding `config` and the official side files.
class ConfigDir {
 public:
  explicit ConfigDir(const json& config, bool side_files = true) {
    write_json(dir_ / "config.json", config);
    if (side_files) {
      for (const char* name : {"generation_config.json", "preprocessor_config.json"}) {
        fs::copy_file(kData / "qwen2vl" / name, dir_ / name);
      }
    }
  }
  const fs::path& path() const { return dir_.path(); }
  Status load_status() const { return load_model_config(dir_.path()).status(); }

 private:
  TempDir dir_;
};

void expect_config_error(const json& config, StatusCode code, const std::string& fragment) {
  ConfigDir dir(config);
  const Status s = dir.load_status();
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find("config.json"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(LoadModelConfig, ReadsThePicoModelAndTheOfficialSideFiles) {
  ConfigDir dir(pico_config());
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  const VisionConfig& v = config->vision;
  EXPECT_EQ(v.depth, 2);
  EXPECT_EQ(v.embed_dim, 32);
  EXPECT_EQ(v.num_heads, 2);
  EXPECT_EQ(v.hidden_size, 64);
  EXPECT_EQ(v.patch_features(), 1176);
  const TextConfig& t = config->text;
  EXPECT_EQ(t.hidden_size, 64);
  EXPECT_EQ(t.num_hidden_layers, 2);
  EXPECT_EQ(t.num_key_value_heads, 2);
  EXPECT_EQ(t.head_dim(), 16);
  EXPECT_EQ(t.vocab_size, 151936);
  EXPECT_EQ(t.mrope_section, (std::array<int, 3>{2, 3, 3}));
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_EQ(t.tokens.video, 151656);
  const GenerationConfig& g = config->generation;
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_TRUE(g.do_sample);
  EXPECT_EQ(g.top_k, 1);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.05f);
  EXPECT_EQ(g.pad_token_id, 151643);
  EXPECT_FALSE(g.max_new_tokens.has_value());
  const PreprocessorConfig& p = config->preprocessor;
  EXPECT_EQ(p.min_pixels, 3136);
  EXPECT_EQ(p.max_pixels, 12845056);
  EXPECT_FLOAT_EQ(p.image_std[2], 0.27577711f);
}

TEST(LoadModelConfig, AbsentSideFilesGiveHuggingFaceDefaults) {
  ConfigDir dir(pico_config(), /*side_files=*/false);
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  const GenerationConfig& g = config->generation;
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{151645}));
  EXPECT_FALSE(g.do_sample);
  EXPECT_EQ(g.top_k, 50);
  EXPECT_FLOAT_EQ(g.top_p, 1.0f);
  EXPECT_FLOAT_EQ(g.temperature, 1.0f);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.0f);
  EXPECT_EQ(config->preprocessor.max_pixels, 12845056);
}

TEST(LoadModelConfig, VisionDefaultsApplyWhenKeysAreOmitted) {
  json config = pico_config();
  config["hidden_size"] = 3584;
  config["num_attention_heads"] = 28;
  config["num_key_value_heads"] = 4;
  config["rope_scaling"]["mrope_section"] = {16, 24, 24};
  config["vision_config"] = {{"in_chans", 3}, {"spatial_patch_size", 14}};  // like 7B
  ConfigDir dir(config);
  Result<ModelConfig> loaded = load_model_config(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->vision.depth, 32);
  EXPECT_EQ(loaded->vision.embed_dim, 1280);
  EXPECT_EQ(loaded->vision.hidden_size, 3584);
  EXPECT_EQ(loaded->vision.merged_dim(), 5120);
}

TEST(LoadModelConfig, AcceptsTheNestedTextConfigAndRopeParameters) {
  json config = pico_config();
  json text = json::object();
  for (const char* key :
       {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "rms_norm_eps"}) {
    text[key] = config[key];
    config.erase(key);
  }
  text["rope_parameters"] = {
      {"rope_type", "default"}, {"rope_theta", 5000.0}, {"mrope_section", {2, 3, 3}}};
  config.erase("rope_scaling");
  config["text_config"] = text;
  ConfigDir dir(config);
  Result<ModelConfig> loaded = load_model_config(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->text.hidden_size, 64);
  EXPECT_DOUBLE_EQ(loaded->text.rope_theta, 5000.0);
  EXPECT_TRUE(loaded->text.tie_word_embeddings);  // found at the top level
}

TEST(LoadModelConfig, AcceptsRopeTypeDefaultAndRejectsOthers) {
  json config = pico_config();
  config["rope_scaling"]["type"] = "default";
  EXPECT_TRUE(ConfigDir(config).load_status().ok());
  config["rope_scaling"]["type"] = "yarn";
  expect_config_error(config, StatusCode::kUnsupported, "rope type 'yarn'");
}

TEST(LoadModelConfig, RejectsOtherModelTypes) {
  json config = pico_config();
  config["model_type"] = "qwen2_5_vl";
  expect_config_error(config, StatusCode::kUnsupported, "'model_type' is 'qwen2_5_vl'");
  config.erase("model_type");
  expect_config_error(config, StatusCode::kInvalidArgument, "key 'model_type'");
}

TEST(LoadModelConfig, MissingRequiredKeyNamesTheKey) {
  json config = pico_config();
  config.erase("num_key_value_heads");
  expect_config_error(config, StatusCode::kInvalidArgument, "key 'num_key_value_heads' is missing");
  config = pico_config();
  config.erase("rope_scaling");
  expect_config_error(config, StatusCode::kInvalidArgument, "mrope_section' is missing");
}

TEST(LoadModelConfig, WrongTypeNamesTheKeyAndValue) {
  json config = pico_config();
  config["hidden_size"] = "64";
  expect_config_error(config, StatusCode::kInvalidArgument,
                      "key 'hidden_size' must be an integer, got \"64\"");
  config = pico_config();
  config["vision_config"]["depth"] = 2.5;
  expect_config_error(config, StatusCode::kInvalidArgument, "key 'vision_config.depth'");
  config = pico_config();
  config["tie_word_embeddings"] = 1;
  expect_config_error(config, StatusCode::kInvalidArgument,
                      "'tie_word_embeddings' must be a boolean");
  config = pico_config();
  config["rope_scaling"]["mrope_section"] = {2, 3};
  expect_config_error(config, StatusCode::kInvalidArgument, "mrope_section' must be 3 integers");
}

TEST(LoadModelConfig, RejectsInconsistentShapes) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& c) { c["num_attention_heads"] = 3; }, "multiple of num_attention_heads"},
      {[](json& c) { c["num_key_value_heads"] = 3; }, "multiple of num_key_value_heads"},
      {[](json& c) {
         c["rope_scaling"]["mrope_section"] = {2, 3, 4};
       },
       "must sum to head_dim / 2 = 8"},
      {[](json& c) { c["vision_config"]["num_heads"] = 3; }, "embed_dim must be a multiple"},
      {[](json& c) { c["vision_config"]["hidden_size"] = 32; }, "(merger output) != hidden_size"},
      {[](json& c) { c["vocab_size"] = 0; }, "vocab_size must be > 0"},
  };
  for (const auto& [mutate, fragment] : cases) {
    json config = pico_config();
    mutate(config);
    ConfigDir dir(config);
    const Status s = dir.load_status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << fragment;
    EXPECT_NE(s.message().find("config.json: config: "), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  }
}

// Without generation_config.json, every eos id config.json lists stops generation
// (transformers' GenerationConfig.from_model_config), not only the first.
TEST(LoadModelConfig, AListOfEosIdsInConfigJsonIsKeptWhole) {
  json config = pico_config();
  config["eos_token_id"] = {151645, 151643};
  ConfigDir dir(config, /*side_files=*/false);
  Result<ModelConfig> loaded = load_model_config(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->generation.eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_EQ(loaded->text.tokens.eos, 151645);
}

TEST(LoadModelConfig, ReadsPixelBoundsFromTheNewerSizeKey) {
  ConfigDir dir(pico_config(), false);
  write_json(dir.path() / "preprocessor_config.json",
             {{"size", {{"shortest_edge", 1000}, {"longest_edge", 200000}}}});
  write_json(dir.path() / "generation_config.json", {{"eos_token_id", 7}, {"max_new_tokens", 9}});
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->preprocessor.min_pixels, 1000);
  EXPECT_EQ(config->preprocessor.max_pixels, 200000);
  EXPECT_EQ(config->generation.eos_token_ids, (std::vector<int>{7}));
  EXPECT_EQ(config->generation.max_new_tokens, 9);
}

// A generation_config.json without eos_token_id: vcap keeps config.json's eos ids (transformers
// would stop at none) and says so through the flag the caption command warns with.
TEST(LoadModelConfig, AGenerationConfigWithoutEosKeepsConfigJsonsAndSaysSo) {
  json config = pico_config();
  config["eos_token_id"] = 151645;
  ConfigDir dir(config, false);
  Result<ModelConfig> no_file = load_model_config(dir.path());
  ASSERT_TRUE(no_file.ok()) << no_file.status().to_string();
  EXPECT_FALSE(no_file->generation.eos_from_config_json);  // transformers' from_model_config
  write_json(dir.path() / "generation_config.json", {{"top_k", 1}});
  Result<ModelConfig> without_eos = load_model_config(dir.path());
  ASSERT_TRUE(without_eos.ok()) << without_eos.status().to_string();
  EXPECT_TRUE(without_eos->generation.eos_from_config_json);
  EXPECT_EQ(without_eos->generation.eos_token_ids, (std::vector<int>{151645}));
  write_json(dir.path() / "generation_config.json", {{"eos_token_id", 7}});
  Result<ModelConfig> with_eos = load_model_config(dir.path());
  ASSERT_TRUE(with_eos.ok()) << with_eos.status().to_string();
  EXPECT_FALSE(with_eos->generation.eos_from_config_json);
  EXPECT_EQ(with_eos->generation.eos_token_ids, (std::vector<int>{7}));
}

// The processor's steps a model folder may turn off (all on in Qwen2-VL's files, and when absent);
// before, they were not read and the pixels were rescaled and normalised regardless.
TEST(LoadModelConfig, ReadsTheProcessorStepsAndTheRescaleFactor) {
  ConfigDir dir(pico_config(), false);
  Result<ModelConfig> defaults = load_model_config(dir.path());
  ASSERT_TRUE(defaults.ok()) << defaults.status().to_string();
  EXPECT_TRUE(defaults->preprocessor.do_resize);
  EXPECT_TRUE(defaults->preprocessor.do_rescale);
  EXPECT_DOUBLE_EQ(defaults->preprocessor.rescale_factor, 1.0 / 255.0);
  EXPECT_TRUE(defaults->preprocessor.do_normalize);
  write_json(dir.path() / "preprocessor_config.json", {{"do_resize", false},
                                                       {"do_rescale", false},
                                                       {"rescale_factor", 0.5},
                                                       {"do_normalize", false}});
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_FALSE(config->preprocessor.do_resize);
  EXPECT_FALSE(config->preprocessor.do_rescale);
  EXPECT_DOUBLE_EQ(config->preprocessor.rescale_factor, 0.5);
  EXPECT_FALSE(config->preprocessor.do_normalize);
  write_json(dir.path() / "preprocessor_config.json", {{"do_normalize", "no"}});
  const Status s = load_model_config(dir.path()).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("do_normalize"), std::string::npos) << s.message();
}

// Settings transformers applies and vcap does not are listed (the caption command warns), unless
// their value changes nothing. Before, they were dropped without a word.
TEST(LoadModelConfig, ListsGenerationSettingsThatAreNotApplied) {
  ConfigDir dir(pico_config(), false);
  write_json(dir.path() / "generation_config.json", {{"top_k", 1},
                                                     {"num_beams", 1},
                                                     {"bad_words_ids", nlohmann::json::array()},
                                                     {"forced_eos_token_id", nullptr},
                                                     {"no_repeat_ngram_size", 3},
                                                     {"suppress_tokens", {42919}},
                                                     {"min_new_tokens", 5},
                                                     {"min_p", 0.0},
                                                     {"guidance_scale", 1.0},
                                                     {"typical_p", 0.9}});  // do_sample is off
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->generation.unapplied,
            (std::vector<std::string>{"min_new_tokens=5", "no_repeat_ngram_size=3",
                                      "suppress_tokens=[42919]"}));
  // Sampling-only settings count when sampling.
  write_json(dir.path() / "generation_config.json",
             {{"do_sample", true}, {"typical_p", 0.9}, {"min_p", 0.0}, {"dola_layers", "high"}});
  config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->generation.unapplied,
            (std::vector<std::string>{"dola_layers=\"high\"", "typical_p=0.9"}));
}

TEST(LoadModelConfig, BadSideFileNamesItsFile) {
  ConfigDir dir(pico_config(), false);
  write_json(dir.path() / "generation_config.json", {{"top_k", "one"}});
  const Status s = dir.load_status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("generation_config.json: key 'top_k'"), std::string::npos)
      << s.message();
}

TEST(LoadModelConfig, MissingConfigIsNotFound) {
  TempDir dir;
  EXPECT_EQ(load_model_config(dir.path()).status().code(), StatusCode::kNotFound);
}

// The tensor list a config implies equals the golden list of names and shapes.
void expect_tensors_match_listing(const char* model) {
  ConfigDir dir(read_json(kData / "model" / model / "config.json"));
  Result<ModelConfig> config = load_model_config(dir.path());
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  std::map<std::string, std::string> expected;
  std::ifstream listing(kData / "model" / model / "tensors.sha256");
  std::string sha, dtype, shape, name;
  while (listing >> sha >> dtype >> shape >> name) expected[name] = shape;
  std::map<std::string, std::string> actual;
  for (const ExpectedTensor& t : expected_tensors(*config)) {
    std::string dims;
    for (int64_t d : t.shape) dims += (dims.empty() ? "" : "x") + std::to_string(d);
    actual[t.name] = dims;
  }
  EXPECT_EQ(actual, expected);
}

TEST(ExpectedTensors, MatchTheGoldenPicoListing) { expect_tensors_match_listing("pico"); }
TEST(ExpectedTensors, MatchTheGoldenPicoBListingWithLmHead) {
  expect_tensors_match_listing("pico-b");
}

TEST(ExpectedTensors, ClassifiesNormsBiasesAndMatrices) {
  ModelConfig config;
  for (const ExpectedTensor& t : expected_tensors(config)) {
    if (t.name.find("norm") != std::string::npos ||
        t.name.find("ln_q.weight") != std::string::npos) {
      EXPECT_EQ(t.kind, t.name.ends_with(".bias") ? TensorKind::kBias : TensorKind::kNorm)
          << t.name;
    } else if (t.name.ends_with(".bias")) {
      EXPECT_EQ(t.kind, TensorKind::kBias) << t.name;
    } else {
      EXPECT_EQ(t.kind, TensorKind::kMatrix) << t.name;
      EXPECT_GE(t.shape.size(), 2u) << t.name;
    }
  }
}

// A checkpoint of zeros with the given tensors.
void write_checkpoint(const fs::path& dir, const std::vector<ExpectedTensor>& tensors) {
  std::vector<io::TensorSpec> specs;
  for (const ExpectedTensor& t : tensors) specs.push_back({t.name, io::DType::kBF16, t.shape});
  const io::TensorFiller zeros = [](const io::TensorSpec&, int64_t, std::span<std::byte> out) {
    std::fill(out.begin(), out.end(), std::byte{0});
    return Status();
  };
  ASSERT_TRUE(io::write_safetensors(dir / "model.safetensors", specs, zeros).ok());
}

class ValidateAgainstCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigDir dir(pico_config());
    Result<ModelConfig> loaded = load_model_config(dir.path());
    ASSERT_TRUE(loaded.ok());
    config_ = *loaded;
  }
  Status validate(const std::vector<ExpectedTensor>& tensors) {
    TempDir dir;
    write_checkpoint(dir.path(), tensors);
    Result<io::SafetensorsCheckpoint> ckpt = io::SafetensorsCheckpoint::open(dir.path());
    if (!ckpt) return ckpt.status();
    return validate_against_checkpoint(config_, *ckpt);
  }
  ModelConfig config_;
};

TEST_F(ValidateAgainstCheckpoint, AcceptsACompleteCheckpoint) {
  EXPECT_TRUE(validate(expected_tensors(config_)).ok());
}

TEST_F(ValidateAgainstCheckpoint, NamesAMissingTensor) {
  std::vector<ExpectedTensor> tensors = expected_tensors(config_);
  tensors.erase(tensors.begin() + 3);
  const Status s = validate(tensors);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("tensor 'visual.blocks.0.norm2.weight' [32] is missing"),
            std::string::npos)
      << s.message();
}

TEST_F(ValidateAgainstCheckpoint, NamesAWrongShapeWithExpectedAndFound) {
  std::vector<ExpectedTensor> tensors = expected_tensors(config_);
  for (ExpectedTensor& t : tensors) {
    if (t.name == "model.layers.1.self_attn.k_proj.weight") t.shape = {64, 64};
  }
  const Status s = validate(tensors);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tensor 'model.layers.1.self_attn.k_proj.weight': expected shape "
                             "[32, 64], found [64, 64]"),
            std::string::npos)
      << s.message();
}

TEST_F(ValidateAgainstCheckpoint, RequiresLmHeadOnlyWhenUntied) {
  config_.text.tie_word_embeddings = false;
  std::vector<ExpectedTensor> tensors = expected_tensors(config_);
  tensors.pop_back();  // lm_head.weight
  EXPECT_EQ(validate(tensors).code(), StatusCode::kNotFound);
  config_.text.tie_word_embeddings = true;
  EXPECT_TRUE(validate(tensors).ok());
}

TEST(ValidateAgainstGolden, PicoCheckpointMatchesItsConfig) {
  const fs::path model_dir = fs::path(VCAP_SHARED_DIR) / "golden/models/pico";
  if (!fs::exists(model_dir / "model.safetensors")) GTEST_SKIP() << "no ../shared";
  Result<ModelConfig> config = load_model_config(model_dir);
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  Result<io::SafetensorsCheckpoint> ckpt = io::SafetensorsCheckpoint::open(model_dir);
  ASSERT_TRUE(ckpt.ok());
  EXPECT_TRUE(validate_against_checkpoint(*config, *ckpt).ok());
}

}  // namespace
}  // namespace vcap::model
