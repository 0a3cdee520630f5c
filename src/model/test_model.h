// Test models: complete Hugging Face-format Qwen2-VL directories with portable random weights.
//
// The weights come from the portable generator of ../shared/golden/README.md, so a model
// regenerated here is bit-identical to the golden pico / pico-b checkpoints (their
// tensors.sha256 prove it) and tests need no weight files. For each tensor (official names and
// shapes, spec §3.2, model/config.h expected_tensors):
//   state = seed XOR fnv1a64(name); element i: z = state + (i+1)·0x9E3779B97F4A7C15 (mod 2^64),
//   splitmix64 finaliser, r = 2·((z>>11)·2^-53) − 1 (exact); value = r·w for matrices,
//   r·b for biases, 1 + (r·n) for norm weights (product rounded first: no fused multiply-add);
//   rounded double → float32 → bf16 (nearest even) for bf16 checkpoints.
// The same generator with the official 2B / 7B shapes gives realistic-size checkpoints for
// benchmarks; those are generated and written tensor by tensor in chunks (memory ~ one chunk
// per thread), sharded like the hub.
#ifndef VCAP_MODEL_TEST_MODEL_H_
#define VCAP_MODEL_TEST_MODEL_H_

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/dtype.h"
#include "model/config.h"

namespace vcap::model {

// Bounds of the uniform values: r·matrix, r·bias, 1 + r·norm with r in [-1, 1).
struct WeightBounds {
  double matrix = 0.035;
  double bias = 0.035;
  double norm = 0.0;
};

// Everything that defines a test model's weights.
struct TestModelSpec {
  ModelConfig config;  // vision/text dims; generation/preprocessor are not used
  uint64_t seed = 0;
  io::DType dtype = io::DType::kBF16;  // kBF16 or kF32
  WeightBounds bounds;
};

// The presets: "pico" and "pico-b" exactly as ../shared/golden/models/presets.json, "2b" and
// "7b" with the official shapes (spec §2; 2b tied, 7b untied; bf16; seed 0; w 0.035, b 0.035,
// n 0). nullopt for another name.
std::optional<TestModelSpec> test_model_preset(std::string_view name);
std::vector<std::string> test_model_preset_names();

// FNV-1a 64 of the bytes of `text`.
uint64_t fnv1a64(std::string_view text);

// r in [-1, 1) for element `index` of the tensor whose stream starts at `state`.
double generator_uniform(uint64_t state, uint64_t index);

// Fills `out` with the stored bytes (little-endian, `dtype`) of elements
// [first_element, first_element + out.size() / dtype_size) of `tensor`, using `threads` threads.
// REQUIRES: dtype is kF32 or kBF16 and out.size() is a multiple of its size.
void generate_tensor_bytes(const ExpectedTensor& tensor, const TestModelSpec& spec,
                           int64_t first_element, std::span<std::byte> out, int threads = 1);

// config.json for `spec`, with the keys (and key order) of the golden pico config.json.
nlohmann::ordered_json test_model_config_json(const TestModelSpec& spec);

struct MakeTestModelOptions {
  // Holds generation_config.json, preprocessor_config.json, tokenizer.json,
  // tokenizer_config.json and chat_template.json, copied into the model.
  std::filesystem::path side_files_dir;
  uint64_t max_shard_bytes = 4'000'000'000;  // the hub's shard size (2B: 2 shards)
  int threads = 2;                           // generator threads
};

// Writes a complete model directory at `out_dir` (config.json, the side files, weights). The
// directory is built under a temporary sibling and renamed into place, so a failure leaves
// nothing at `out_dir`. kInvalidArgument for an inconsistent config, unsupported dtype or a
// non-empty existing `out_dir`; kIoError / kNotFound for files that cannot be written or read.
Status make_test_model(const TestModelSpec& spec, const std::filesystem::path& out_dir,
                       const MakeTestModelOptions& options);

}  // namespace vcap::model

#endif  // VCAP_MODEL_TEST_MODEL_H_
