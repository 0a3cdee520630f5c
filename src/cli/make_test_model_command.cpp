// `vcap make-test-model`: write a complete Qwen2-VL model directory with portable random
// weights (model/test_model.h): the golden pico / pico-b models bit for bit, or 2B / 7B-sized
// checkpoints for benchmarks, or any config.json with a seed and bounds.
//
//   vcap make-test-model --preset pico|pico-b|2b|7b --out DIR [--seed N] [--dtype bf16|f32]
//   vcap make-test-model --config config.json --seed N --bounds W,B,N --out DIR
//
// Bad input (unknown preset, inconsistent config, bad bounds, a non-empty or unwritable --out)
// is a one-line error and exit code 2; nothing is left at --out.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "io/json_file.h"
#include "model/test_model.h"

#ifndef VCAP_SIDE_FILES_DIR
#define VCAP_SIDE_FILES_DIR ""
#endif

namespace vcap::cli {
namespace {

namespace fs = std::filesystem;

struct MakeTestModelFlags {
  std::string preset;
  std::string config;
  std::string out;
  uint64_t seed = 0;
  std::string dtype;   // empty: the preset's (bf16 for --config)
  std::string bounds;  // "W,B,N"; empty: the preset's (0.035,0.035,0 for --config)
  std::string side_files = VCAP_SIDE_FILES_DIR;
  int threads = 2;
  uint64_t shard_bytes = 4'000'000'000;
  CLI::Option* seed_option = nullptr;
};

Result<model::WeightBounds> parse_bounds(const std::string& text) {
  model::WeightBounds bounds;
  std::istringstream in(text);
  char comma1 = 0, comma2 = 0;
  if (!(in >> bounds.matrix >> comma1 >> bounds.bias >> comma2 >> bounds.norm) || comma1 != ',' ||
      comma2 != ',' || !(in >> std::ws).eof() || bounds.matrix < 0 || bounds.bias < 0 ||
      bounds.norm < 0) {
    return Status::invalid_argument("--bounds '" + text +
                                    "': want three non-negative numbers W,B,N");
  }
  return bounds;
}

Result<model::TestModelSpec> spec_from_flags(const MakeTestModelFlags& flags) {
  model::TestModelSpec spec;
  if (!flags.preset.empty()) {
    std::optional<model::TestModelSpec> preset = model::test_model_preset(flags.preset);
    if (!preset) {
      return Status::invalid_argument("--preset '" + flags.preset +
                                      "': want pico, pico-b, 2b or 7b");
    }
    spec = *preset;
  } else {
    Result<nlohmann::json> json = io::read_json_file(flags.config);
    if (!json) return json.status();
    Result<model::ModelConfig> config = model::parse_model_config(*json, flags.config);
    if (!config) return config.status();
    if (Status s = model::validate_config(*config); !s.ok()) return s.with_context(flags.config);
    spec.config = *config;
  }
  if (flags.seed_option->count() > 0) spec.seed = flags.seed;
  if (flags.dtype == "bf16") spec.dtype = io::DType::kBF16;
  if (flags.dtype == "f32") spec.dtype = io::DType::kF32;
  if (!flags.bounds.empty()) {
    Result<model::WeightBounds> bounds = parse_bounds(flags.bounds);
    if (!bounds) return bounds.status();
    spec.bounds = *bounds;
  }
  return spec;
}

void run(const MakeTestModelFlags& flags) {
  Result<model::TestModelSpec> spec = spec_from_flags(flags);
  fail_if_error(spec.status());
  model::MakeTestModelOptions options;
  options.side_files_dir = flags.side_files;
  options.threads = flags.threads;
  options.max_shard_bytes = flags.shard_bytes;
  fail_if_error(model::make_test_model(*spec, flags.out, options));
  uint64_t total_bytes = 0;
  const std::vector<model::ExpectedTensor> tensors = model::expected_tensors(spec->config);
  for (const model::ExpectedTensor& tensor : tensors) {
    uint64_t count = 1;
    for (int64_t dim : tensor.shape) count *= static_cast<uint64_t>(dim);
    total_bytes += count * io::dtype_size(spec->dtype);
  }
  std::printf("wrote %s: %zu tensors, %llu bytes of %s weights\n", flags.out.c_str(),
              tensors.size(), static_cast<unsigned long long>(total_bytes),
              io::dtype_name(spec->dtype));
}

}  // namespace

void add_make_test_model_command(CLI::App& app) {
  auto flags = std::make_shared<MakeTestModelFlags>();
  CLI::App* command = app.add_subcommand(
      "make-test-model",
      "Write a Qwen2-VL model directory with portable random weights (tests, benchmarks)");
  CLI::Option* preset =
      command->add_option("--preset", flags->preset, "pico, pico-b (the golden models), 2b, 7b")
          ->check(CLI::IsMember(model::test_model_preset_names()));
  CLI::Option* config = command
                            ->add_option("--config", flags->config,
                                         "a Qwen2-VL config.json giving the shapes instead")
                            ->check(CLI::ExistingFile);
  preset->excludes(config);
  command->add_option("--out", flags->out, "the model directory to create (absent or empty)")
      ->required();
  flags->seed_option =
      command->add_option("--seed", flags->seed, "generator seed (default: the preset's, or 0)");
  command->add_option("--dtype", flags->dtype, "stored dtype (default: the preset's, or bf16)")
      ->check(CLI::IsMember({"bf16", "f32"}));
  command->add_option("--bounds", flags->bounds,
                      "W,B,N: matrices r*W, biases r*B, norms 1+r*N (default: the preset's, "
                      "or 0.035,0.035,0)");
  command
      ->add_option("--side-files", flags->side_files,
                   "folder with tokenizer.json, tokenizer_config.json, chat_template.json, "
                   "generation_config.json, preprocessor_config.json")
      ->capture_default_str();
  command->add_option("--threads", flags->threads, "generator threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command
      ->add_option("--shard-bytes", flags->shard_bytes,
                   "most weight bytes per safetensors shard (the hub uses 4 GB)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->callback([flags, preset, config] {
    if (preset->count() == 0 && config->count() == 0) {
      throw CommandFailed(Status::invalid_argument("make-test-model: give --preset or --config"));
    }
    run(*flags);
  });
}

}  // namespace vcap::cli
