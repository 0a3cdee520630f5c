#include "model/model_dims.h"

#include <string>
#include <utility>

namespace vcap::model {
namespace {

Status positive(const char* field, int64_t value) {
  if (value > 0) return Status();
  return Status::invalid_argument(std::string("model dims: ") + field + " must be > 0, got " +
                                  std::to_string(value));
}

Status divides(const char* what, int64_t divisor, int64_t value) {
  if (divisor > 0 && value % divisor == 0) return Status();
  return Status::invalid_argument(std::string("model dims: ") + what + " (" +
                                  std::to_string(value) + " by " + std::to_string(divisor) + ")");
}

}  // namespace

Status validate_dims(const ModelDims& dims) {
  const VisionDims& v = dims.vision;
  const TextDims& t = dims.text;
  for (const auto& [field, value] : {std::pair{"vision.depth", v.depth},
                                     {"vision.embed_dim", v.embed_dim},
                                     {"vision.num_heads", v.num_heads},
                                     {"vision.mlp_hidden", v.mlp_hidden},
                                     {"vision.in_channels", v.in_channels},
                                     {"vision.patch_size", v.patch_size},
                                     {"vision.temporal_patch_size", v.temporal_patch_size},
                                     {"vision.merge_size", v.merge_size},
                                     {"vision.out_hidden", v.out_hidden},
                                     {"text.hidden_size", t.hidden_size},
                                     {"text.intermediate_size", t.intermediate_size},
                                     {"text.num_layers", t.num_layers},
                                     {"text.num_heads", t.num_heads},
                                     {"text.num_kv_heads", t.num_kv_heads},
                                     {"text.vocab_size", t.vocab_size}}) {
    if (Status s = positive(field, value); !s.ok()) return s;
  }
  if (Status s = divides("vision heads must divide embed_dim", v.num_heads, v.embed_dim); !s.ok())
    return s;
  if (Status s = divides("vision head_dim must be a multiple of 4", 4, v.head_dim()); !s.ok())
    return s;
  if (Status s = divides("text heads must divide hidden_size", t.num_heads, t.hidden_size); !s.ok())
    return s;
  if (Status s = divides("kv heads must divide heads", t.num_kv_heads, t.num_heads); !s.ok())
    return s;
  if (t.mrope_section[0] < 0 || t.mrope_section[1] < 0 || t.mrope_section[2] < 0 ||
      t.mrope_section[0] + t.mrope_section[1] + t.mrope_section[2] != t.head_dim() / 2) {
    return Status::invalid_argument("model dims: mrope_section must sum to head_dim / 2 = " +
                                    std::to_string(t.head_dim() / 2));
  }
  if (v.out_hidden != t.hidden_size) {
    return Status::invalid_argument("model dims: vision merger output " +
                                    std::to_string(v.out_hidden) + " != LLM hidden_size " +
                                    std::to_string(t.hidden_size));
  }
  return Status();
}

Result<ModelDims> dims_from_config(const ModelConfig& config) {
  const VisionConfig& v = config.vision;
  const TextConfig& t = config.text;
  ModelDims dims;
  dims.vision = {v.depth,       v.embed_dim,  v.num_heads,           v.mlp_hidden(),
                 v.in_channels, v.patch_size, v.temporal_patch_size, v.spatial_merge_size,
                 v.hidden_size, 1e-6f};
  dims.text.hidden_size = t.hidden_size;
  dims.text.intermediate_size = t.intermediate_size;
  dims.text.num_layers = t.num_hidden_layers;
  dims.text.num_heads = t.num_attention_heads;
  dims.text.num_kv_heads = t.num_key_value_heads;
  dims.text.vocab_size = t.vocab_size;
  dims.text.rms_norm_eps = static_cast<float>(t.rms_norm_eps);
  dims.text.rope_theta = t.rope_theta;
  dims.text.mrope_section = {t.mrope_section[0], t.mrope_section[1], t.mrope_section[2]};
  dims.text.tie_word_embeddings = t.tie_word_embeddings;
  dims.tokens = {t.tokens.vision_start, t.tokens.image, t.tokens.video};
  if (Status s = validate_dims(dims); !s.ok()) return s;
  return dims;
}

}  // namespace vcap::model
