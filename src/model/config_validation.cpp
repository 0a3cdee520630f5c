// The checks of a parsed ModelConfig (its values agree with each other) and of a checkpoint
// against it: the tensor list a config implies (spec §3.2), with shapes and dtypes.
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"

namespace vcap::model {

namespace {

Status check_positive(std::initializer_list<std::pair<const char*, int64_t>> fields) {
  for (const auto& [name, value] : fields) {
    if (value <= 0) {
      return Status::invalid_argument("config: " + std::string(name) + " must be > 0, got " +
                                      std::to_string(value));
    }
  }
  return Status();
}

Status check_divides(const char* what, int64_t value, int64_t divisor) {
  if (value % divisor == 0) return Status();
  return Status::invalid_argument("config: " + std::string(what) + " (" + std::to_string(value) +
                                  " % " + std::to_string(divisor) + " != 0)");
}

}  // namespace

Status validate_config(const ModelConfig& config) {
  const VisionConfig& v = config.vision;
  const TextConfig& t = config.text;
  const PreprocessorConfig& p = config.preprocessor;
  Status s = check_positive({{"vision_config.depth", v.depth},
                             {"vision_config.embed_dim", v.embed_dim},
                             {"vision_config.num_heads", v.num_heads},
                             {"vision_config.mlp_ratio", v.mlp_ratio},
                             {"vision_config.in_channels", v.in_channels},
                             {"vision_config.patch_size", v.patch_size},
                             {"vision_config.temporal_patch_size", v.temporal_patch_size},
                             {"vision_config.spatial_merge_size", v.spatial_merge_size},
                             {"vision_config.hidden_size", v.hidden_size},
                             {"hidden_size", t.hidden_size},
                             {"intermediate_size", t.intermediate_size},
                             {"num_hidden_layers", t.num_hidden_layers},
                             {"num_attention_heads", t.num_attention_heads},
                             {"num_key_value_heads", t.num_key_value_heads},
                             {"vocab_size", t.vocab_size},
                             {"min_pixels", p.min_pixels},
                             {"max_pixels", p.max_pixels}});
  if (!s.ok()) return s;
  const Status divisibility[] = {
      check_divides("vision_config.embed_dim must be a multiple of num_heads", v.embed_dim,
                    v.num_heads),
      check_divides("hidden_size must be a multiple of num_attention_heads", t.hidden_size,
                    t.num_attention_heads),
      check_divides("num_attention_heads must be a multiple of num_key_value_heads",
                    t.num_attention_heads, t.num_key_value_heads),
      check_divides("head_dim (hidden_size / num_attention_heads) must be even", t.head_dim(), 2),
  };
  for (const Status& divides : divisibility) {
    if (!divides.ok()) return divides;
  }
  const std::array<int, 3>& m = t.mrope_section;
  if (m[0] < 0 || m[1] < 0 || m[2] < 0 || m[0] + m[1] + m[2] != t.head_dim() / 2) {
    return Status::invalid_argument(
        "config: rope_scaling.mrope_section [" + std::to_string(m[0]) + ", " +
        std::to_string(m[1]) + ", " + std::to_string(m[2]) +
        "] must sum to head_dim / 2 = " + std::to_string(t.head_dim() / 2));
  }
  if (v.hidden_size != t.hidden_size) {
    return Status::invalid_argument(
        "config: vision_config.hidden_size " + std::to_string(v.hidden_size) +
        " (merger output) != hidden_size " + std::to_string(t.hidden_size));
  }
  if (p.patch_size != v.patch_size || p.temporal_patch_size != v.temporal_patch_size ||
      p.merge_size != v.spatial_merge_size) {
    return Status::invalid_argument(
        "config: preprocessor patch_size/temporal_patch_size/merge_size differ from "
        "vision_config");
  }
  if (p.min_pixels > p.max_pixels) {
    return Status::invalid_argument("config: min_pixels > max_pixels");
  }
  return Status();
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config) {
  const VisionConfig& v = config.vision;
  const TextConfig& t = config.text;
  const int64_t embed = v.embed_dim;
  const int64_t mlp = v.mlp_hidden();
  const int64_t merged = v.merged_dim();
  const int64_t hidden = t.hidden_size;
  const int64_t kv_rows = static_cast<int64_t>(t.num_key_value_heads) * t.head_dim();
  const int64_t inter = t.intermediate_size;
  std::vector<ExpectedTensor> out;
  auto add = [&out](std::string name, std::vector<int64_t> shape, TensorKind kind) {
    out.push_back({std::move(name), std::move(shape), kind});
  };
  constexpr TensorKind kW = TensorKind::kMatrix, kB = TensorKind::kBias, kN = TensorKind::kNorm;
  add("visual.patch_embed.proj.weight",
      {embed, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, kW);
  for (int i = 0; i < v.depth; ++i) {
    const std::string b = "visual.blocks." + std::to_string(i) + ".";
    add(b + "norm1.weight", {embed}, kN);
    add(b + "norm1.bias", {embed}, kB);
    add(b + "norm2.weight", {embed}, kN);
    add(b + "norm2.bias", {embed}, kB);
    add(b + "attn.qkv.weight", {3 * embed, embed}, kW);
    add(b + "attn.qkv.bias", {3 * embed}, kB);
    add(b + "attn.proj.weight", {embed, embed}, kW);
    add(b + "attn.proj.bias", {embed}, kB);
    add(b + "mlp.fc1.weight", {mlp, embed}, kW);
    add(b + "mlp.fc1.bias", {mlp}, kB);
    add(b + "mlp.fc2.weight", {embed, mlp}, kW);
    add(b + "mlp.fc2.bias", {embed}, kB);
  }
  add("visual.merger.ln_q.weight", {embed}, kN);
  add("visual.merger.ln_q.bias", {embed}, kB);
  add("visual.merger.mlp.0.weight", {merged, merged}, kW);
  add("visual.merger.mlp.0.bias", {merged}, kB);
  add("visual.merger.mlp.2.weight", {v.hidden_size, merged}, kW);
  add("visual.merger.mlp.2.bias", {v.hidden_size}, kB);
  add("model.embed_tokens.weight", {t.vocab_size, hidden}, kW);
  for (int i = 0; i < t.num_hidden_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    add(l + "input_layernorm.weight", {hidden}, kN);
    add(l + "post_attention_layernorm.weight", {hidden}, kN);
    add(l + "self_attn.q_proj.weight", {hidden, hidden}, kW);
    add(l + "self_attn.q_proj.bias", {hidden}, kB);
    add(l + "self_attn.k_proj.weight", {kv_rows, hidden}, kW);
    add(l + "self_attn.k_proj.bias", {kv_rows}, kB);
    add(l + "self_attn.v_proj.weight", {kv_rows, hidden}, kW);
    add(l + "self_attn.v_proj.bias", {kv_rows}, kB);
    add(l + "self_attn.o_proj.weight", {hidden, hidden}, kW);
    add(l + "mlp.gate_proj.weight", {inter, hidden}, kW);
    add(l + "mlp.up_proj.weight", {inter, hidden}, kW);
    add(l + "mlp.down_proj.weight", {hidden, inter}, kW);
  }
  add("model.norm.weight", {hidden}, kN);
  if (!t.tie_word_embeddings) add("lm_head.weight", {t.vocab_size, hidden}, kW);
  return out;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return out + "]";
}

namespace {

Status check_entry(const io::TensorEntry& entry, const std::vector<int64_t>& shape) {
  const std::string where = entry.file.string() + ": tensor '" + entry.name + "'";
  if (entry.shape != shape) {
    return Status::invalid_argument(where + ": expected shape " + shape_to_string(shape) +
                                    ", found " + shape_to_string(entry.shape));
  }
  if (entry.dtype != io::DType::kF32 && entry.dtype != io::DType::kBF16 &&
      entry.dtype != io::DType::kF16) {
    return Status::unsupported(where + ": dtype " + io::dtype_name(entry.dtype) +
                               " (want F32, BF16 or F16)");
  }
  return Status();
}

}  // namespace

Status validate_against_checkpoint(const ModelConfig& config,
                                   const io::SafetensorsCheckpoint& checkpoint) {
  for (const ExpectedTensor& expected : expected_tensors(config)) {
    const io::TensorEntry* entry = checkpoint.find(expected.name);
    if (entry == nullptr) {
      return Status::not_found("checkpoint: tensor '" + expected.name + "' " +
                               shape_to_string(expected.shape) + " is missing");
    }
    if (Status s = check_entry(*entry, expected.shape); !s.ok()) return s;
  }
  if (config.text.tie_word_embeddings) {
    if (const io::TensorEntry* lm_head = checkpoint.find("lm_head.weight")) {
      const std::vector<int64_t> shape = {config.text.vocab_size, config.text.hidden_size};
      if (Status s = check_entry(*lm_head, shape); !s.ok()) return s;
    }
  }
  return Status();
}

}  // namespace vcap::model
