// Test model presets, their config.json, and writing a whole model directory.
#include "model/test_model.h"

#include <unistd.h>

#include "io/json_file.h"
#include "io/safetensors_writer.h"

namespace vcap::model {
namespace {

namespace fs = std::filesystem;

struct PresetDims {
  const char* name;
  int vision_depth, vision_embed_dim, vision_heads;
  int hidden_size, layers, heads, kv_heads, intermediate, vocab_size;
  std::array<int, 3> mrope_section;
  bool tie;
  uint64_t seed;
  io::DType dtype;
  WeightBounds bounds;
};

// pico / pico-b: ../shared/golden/models/presets.json. 2b / 7b: spec §2.2, §2.3.
constexpr PresetDims kPresets[] = {
    {"pico",
     2,
     32,
     2,
     64,
     2,
     4,
     2,
     128,
     151936,
     {2, 3, 3},
     true,
     7,
     io::DType::kBF16,
     {0.35, 0.09, 0.17}},
    {"pico-b",
     3,
     48,
     3,
     96,
     3,
     4,
     2,
     192,
     151657,
     {2, 5, 5},
     false,
     11,
     io::DType::kF32,
     {0.26, 0.09, 0.17}},
    {"2b",
     32,
     1280,
     16,
     1536,
     28,
     12,
     2,
     8960,
     151936,
     {16, 24, 24},
     true,
     0,
     io::DType::kBF16,
     {0.035, 0.035, 0.0}},
    {"7b",
     32,
     1280,
     16,
     3584,
     28,
     28,
     4,
     18944,
     152064,
     {16, 24, 24},
     false,
     0,
     io::DType::kBF16,
     {0.035, 0.035, 0.0}},
};

TestModelSpec spec_from(const PresetDims& p) {
  TestModelSpec spec;
  VisionConfig& v = spec.config.vision;
  v.depth = p.vision_depth;
  v.embed_dim = p.vision_embed_dim;
  v.num_heads = p.vision_heads;
  v.hidden_size = p.hidden_size;
  TextConfig& t = spec.config.text;
  t.hidden_size = p.hidden_size;
  t.num_hidden_layers = p.layers;
  t.num_attention_heads = p.heads;
  t.num_key_value_heads = p.kv_heads;
  t.intermediate_size = p.intermediate;
  t.vocab_size = p.vocab_size;
  t.mrope_section = p.mrope_section;
  t.tie_word_embeddings = p.tie;
  spec.seed = p.seed;
  spec.dtype = p.dtype;
  spec.bounds = p.bounds;
  return spec;
}

constexpr const char* kSideFiles[] = {"generation_config.json", "preprocessor_config.json",
                                      "tokenizer.json", "tokenizer_config.json",
                                      "chat_template.json"};

Status write_weights(const TestModelSpec& spec, const fs::path& dir,
                     const MakeTestModelOptions& options) {
  const std::vector<ExpectedTensor> tensors = expected_tensors(spec.config);
  std::vector<io::TensorSpec> specs;
  std::map<std::string, const ExpectedTensor*> by_name;
  for (const ExpectedTensor& tensor : tensors) {
    specs.push_back({tensor.name, spec.dtype, tensor.shape});
    by_name[tensor.name] = &tensor;
  }
  const io::TensorFiller fill = [&](const io::TensorSpec& tensor, int64_t first,
                                    std::span<std::byte> out) {
    generate_tensor_bytes(*by_name.at(tensor.name), spec, first, out, options.threads);
    return Status();
  };
  io::ShardOptions shard_options;
  shard_options.max_shard_bytes = options.max_shard_bytes;
  return io::write_safetensors_sharded(dir, specs, fill, shard_options).status();
}

Status write_model_files(const TestModelSpec& spec, const fs::path& dir,
                         const MakeTestModelOptions& options) {
  for (const char* name : kSideFiles) {
    std::error_code ec;
    fs::copy_file(options.side_files_dir / name, dir / name, ec);
    if (ec) {
      return Status::io_error("copy " + (options.side_files_dir / name).string() + ": " +
                              ec.message());
    }
  }
  if (Status s = io::write_json_file(dir / "config.json", test_model_config_json(spec)); !s.ok()) {
    return s;
  }
  return write_weights(spec, dir, options);
}

}  // namespace

std::optional<TestModelSpec> test_model_preset(std::string_view name) {
  for (const PresetDims& preset : kPresets) {
    if (name == preset.name) return spec_from(preset);
  }
  return std::nullopt;
}

std::vector<std::string> test_model_preset_names() {
  std::vector<std::string> names;
  for (const PresetDims& preset : kPresets) names.emplace_back(preset.name);
  return names;
}

nlohmann::ordered_json test_model_config_json(const TestModelSpec& spec) {
  const VisionConfig& v = spec.config.vision;
  const TextConfig& t = spec.config.text;
  nlohmann::ordered_json j;
  j["architectures"] = {"Qwen2VLForConditionalGeneration"};
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = t.tokens.bos;
  j["eos_token_id"] = t.tokens.eos;
  j["vision_start_token_id"] = t.tokens.vision_start;
  j["vision_end_token_id"] = t.tokens.vision_end;
  j["vision_token_id"] = t.tokens.vision;
  j["image_token_id"] = t.tokens.image;
  j["video_token_id"] = t.tokens.video;
  j["hidden_act"] = "silu";
  j["hidden_size"] = t.hidden_size;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = t.intermediate_size;
  j["max_position_embeddings"] = t.max_position_embeddings;
  j["max_window_layers"] = t.num_hidden_layers;
  j["model_type"] = "qwen2_vl";
  j["num_attention_heads"] = t.num_attention_heads;
  j["num_hidden_layers"] = t.num_hidden_layers;
  j["num_key_value_heads"] = t.num_key_value_heads;
  j["rms_norm_eps"] = t.rms_norm_eps;
  j["rope_theta"] = t.rope_theta;
  j["sliding_window"] = 32768;
  j["tie_word_embeddings"] = t.tie_word_embeddings;
  j["torch_dtype"] = spec.dtype == io::DType::kBF16 ? "bfloat16" : "float32";
  j["transformers_version"] = "4.41.2";
  j["use_cache"] = true;
  j["use_sliding_window"] = false;
  j["vision_config"] = {{"depth", v.depth},
                        {"embed_dim", v.embed_dim},
                        {"mlp_ratio", v.mlp_ratio},
                        {"num_heads", v.num_heads},
                        {"in_chans", v.in_channels},
                        {"hidden_size", v.hidden_size},
                        {"patch_size", v.patch_size},
                        {"spatial_merge_size", v.spatial_merge_size},
                        {"spatial_patch_size", v.patch_size},
                        {"temporal_patch_size", v.temporal_patch_size}};
  j["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", t.mrope_section}};
  j["vocab_size"] = t.vocab_size;
  return j;
}

Status make_test_model(const TestModelSpec& spec, const fs::path& out_dir,
                       const MakeTestModelOptions& options) {
  if (spec.dtype != io::DType::kBF16 && spec.dtype != io::DType::kF32) {
    return Status::invalid_argument(std::string("test model dtype ") + io::dtype_name(spec.dtype) +
                                    " (want BF16 or F32)");
  }
  if (Status s = validate_config(spec.config); !s.ok()) return s;
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    return Status::invalid_argument(out_dir.string() + ": exists and is not an empty directory");
  }
  fs::path temp_dir = out_dir;
  temp_dir += ".tmp." + std::to_string(::getpid());
  fs::remove_all(temp_dir, ec);
  if (!fs::create_directory(temp_dir, ec)) {
    return Status::io_error("create directory " + temp_dir.string() + ": " + ec.message());
  }
  Status s = write_model_files(spec, temp_dir, options);
  if (s.ok()) {
    fs::rename(temp_dir, out_dir, ec);
    if (ec) {
      s = Status::io_error("rename " + temp_dir.string() + " to " + out_dir.string() + ": " +
                           ec.message());
    }
  }
  if (!s.ok()) fs::remove_all(temp_dir, ec);
  return s;
}

}  // namespace vcap::model
