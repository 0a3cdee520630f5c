#include "model/test_model.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hub/sha256.h"
#include "io/safetensors.h"
#include "io/temp_dir.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kData = VCAP_TEST_DATA_DIR;

MakeTestModelOptions options_with_side_files() {
  MakeTestModelOptions options;
  options.side_files_dir = kData / "qwen2vl";
  return options;
}

TEST(Generator, MatchesIndependentKnownValues) {
  EXPECT_EQ(fnv1a64("model.norm.weight"), 0xd6d6e5afd11604e4ull);
  const uint64_t state = 7 ^ fnv1a64("model.norm.weight");
  EXPECT_EQ(generator_uniform(state, 0), 0.10712644550228467);
  EXPECT_EQ(generator_uniform(state, 1), -0.6108031597713701);
}

TEST(Generator, ThreadsDoNotChangeTheBytes) {
  const TestModelSpec spec = *test_model_preset("pico");
  const ExpectedTensor tensor{"model.embed_tokens.weight", {1000, 64}, TensorKind::kMatrix};
  std::vector<std::byte> one(64000 * 2), three(64000 * 2), tail(1000 * 2);
  generate_tensor_bytes(tensor, spec, 0, one, 1);
  generate_tensor_bytes(tensor, spec, 0, three, 3);
  EXPECT_EQ(one, three);
  generate_tensor_bytes(tensor, spec, 63000, tail, 2);  // a chunk in the middle of the tensor
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), one.end() - 2000));
}

TEST(TestModelPresets, OfficialShapesGiveThePublishedParameterCounts) {
  auto count = [](const TestModelSpec& spec) {
    int64_t total = 0;
    for (const ExpectedTensor& t : expected_tensors(spec.config)) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      total += n;
    }
    return total;
  };
  const TestModelSpec b2 = *test_model_preset("2b");
  EXPECT_EQ(count(b2), 2'208'985'600);  // spec §3.2: no lm_head (tied)
  const TestModelSpec b7 = *test_model_preset("7b");
  EXPECT_FALSE(b7.config.text.tie_word_embeddings);
  EXPECT_EQ(b7.config.text.vocab_size, 152064);
  EXPECT_TRUE(validate_config(b2.config).ok());
  EXPECT_TRUE(validate_config(b7.config).ok());
  EXPECT_FALSE(test_model_preset("13b").has_value());
}

// sha256 of every tensor's stored bytes, against the golden list ("sha dtype shape name").
void expect_tensors_match_golden(const fs::path& model_dir, const fs::path& listing_path) {
  Result<io::SafetensorsCheckpoint> ckpt = io::SafetensorsCheckpoint::open(model_dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  std::ifstream listing(listing_path);
  std::string sha, dtype, shape, name;
  size_t count = 0;
  while (listing >> sha >> dtype >> shape >> name) {
    const io::TensorEntry* entry = ckpt->find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_STREQ(io::dtype_name(entry->dtype), dtype.c_str()) << name;
    hub::Sha256 hasher;
    hasher.update(entry->bytes);
    EXPECT_EQ(hub::to_hex(hasher.finish()), sha) << name;
    ++count;
  }
  EXPECT_GT(count, 50u);
  EXPECT_EQ(ckpt->size(), count);
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void expect_preset_matches_golden(const char* preset, uint64_t max_shard_bytes) {
  TempDir dir;
  MakeTestModelOptions options = options_with_side_files();
  options.max_shard_bytes = max_shard_bytes;
  ASSERT_TRUE(make_test_model(*test_model_preset(preset), dir / "m", options).ok());
  expect_tensors_match_golden(dir / "m", kData / "model" / preset / "tensors.sha256");
  EXPECT_EQ(read_json(dir / "m/config.json"), read_json(kData / "model" / preset / "config.json"));
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.json",
                           "generation_config.json", "preprocessor_config.json"}) {
    EXPECT_TRUE(fs::exists(dir / "m" / name)) << name;
  }
  Result<ModelConfig> config = load_model_config(dir / "m");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  Result<io::SafetensorsCheckpoint> ckpt = io::SafetensorsCheckpoint::open(dir / "m");
  ASSERT_TRUE(ckpt.ok());
  EXPECT_TRUE(validate_against_checkpoint(*config, *ckpt).ok());
}

TEST(MakeTestModel, PicoIsBitIdenticalToTheGoldenCheckpoint) {
  expect_preset_matches_golden("pico", 4'000'000'000);
}

TEST(MakeTestModel, PicoBIsBitIdenticalToTheGoldenCheckpoint) {
  expect_preset_matches_golden("pico-b", 4'000'000'000);
}

TEST(MakeTestModel, ShardsLikeTheHubWhenOverTheShardSize) {
  TempDir dir;
  MakeTestModelOptions options = options_with_side_files();
  options.max_shard_bytes = 8'000'000;  // pico holds ~19.8 MB of weights
  ASSERT_TRUE(make_test_model(*test_model_preset("pico"), dir / "m", options).ok());
  EXPECT_TRUE(fs::exists(dir / "m/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dir / "m/model-00001-of-00003.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "m/model.safetensors"));
  expect_tensors_match_golden(dir / "m", kData / "model/pico/tensors.sha256");
}

TEST(MakeTestModel, RefusesANonEmptyOutputDirectory) {
  TempDir dir;
  fs::create_directory(dir / "m");
  testing::write_text_file(dir / "m/keep.txt", "x");
  const Status s =
      make_test_model(*test_model_preset("pico"), dir / "m", options_with_side_files());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "m"), fs::directory_iterator()), 1);
}

TEST(MakeTestModel, LeavesNothingBehindOnFailure) {
  TempDir dir;
  MakeTestModelOptions options = options_with_side_files();
  options.side_files_dir = dir / "no-side-files";
  const Status s = make_test_model(*test_model_preset("pico"), dir / "m", options);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.to_string();
  EXPECT_TRUE(fs::is_empty(dir.path()));
  EXPECT_EQ(make_test_model(*test_model_preset("pico"), dir / "missing/parent/m",
                            options_with_side_files())
                .code(),
            StatusCode::kIoError);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(MakeTestModel, RejectsAnInconsistentConfig) {
  TempDir dir;
  TestModelSpec spec = *test_model_preset("pico");
  spec.config.text.num_attention_heads = 3;
  const Status s = make_test_model(spec, dir / "m", options_with_side_files());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("num_attention_heads"), std::string::npos) << s.message();
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace vcap::model

namespace vcap::model {
namespace {

// Runs `vcap make-test-model ARGS`; returns the exit code and fills `stderr_text`.
int run_make_test_model(const std::string& args, const TempDir& dir, std::string& stderr_text) {
  const fs::path err = dir / "stderr.txt";
  const std::string command = std::string(VCAP_BINARY) + " make-test-model " + args + " >" +
                              (dir / "stdout.txt").string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  stderr_text = testing::read_text_file(err);
  fs::remove(err);
  fs::remove(dir / "stdout.txt");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MakeTestModelCommand, WritesThePicoPreset) {
  TempDir dir;
  std::string err;
  ASSERT_EQ(run_make_test_model("--preset pico --out " + (dir / "m").string(), dir, err), 0) << err;
  expect_tensors_match_golden(dir / "m", kData / "model/pico/tensors.sha256");
}

TEST(MakeTestModelCommand, BadConfigIsAOneLineErrorWithExitCode2AndNoOutput) {
  TempDir dir;
  nlohmann::json config = read_json(kData / "model/pico/config.json");
  config["num_key_value_heads"] = 3;
  testing::write_text_file(dir / "bad.json", config.dump());
  std::string err;
  EXPECT_EQ(run_make_test_model("--config " + (dir / "bad.json").string() +
                                    " --seed 1 --bounds 0.1,0.1,0 --out " + (dir / "m").string(),
                                dir, err),
            2);
  EXPECT_NE(err.find("num_key_value_heads"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir / "m"));
}

TEST(MakeTestModelCommand, UnwritableOutIsExitCode2) {
  TempDir dir;
  std::string err;
  EXPECT_EQ(
      run_make_test_model("--preset pico --out " + (dir / "missing/parent/m").string(), dir, err),
      2);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
}

TEST(MakeTestModelCommand, BadBoundsAreRejected) {
  TempDir dir;
  std::string err;
  EXPECT_EQ(
      run_make_test_model("--preset pico --bounds 1,2 --out " + (dir / "m").string(), dir, err), 2);
  EXPECT_NE(err.find("--bounds"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "m"));
}

}  // namespace
}  // namespace vcap::model
