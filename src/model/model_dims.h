// The dimensions the Qwen2-VL forward pass needs (spec/QWEN2VL.md §2.2, §2.3), with the 2B
// values as defaults. Filled from the parsed config.json (model/config.h) by
// dims_from_config(); kept separate so that every component sees only numbers, never JSON.
#ifndef VCAP_MODEL_MODEL_DIMS_H_
#define VCAP_MODEL_MODEL_DIMS_H_

#include <array>
#include <cstdint>

#include "base/status.h"
#include "model/config.h"
#include "model/rope_index.h"

namespace vcap::model {

struct VisionDims {
  int64_t depth = 32;         // vision blocks
  int64_t embed_dim = 1280;   // vision width
  int64_t num_heads = 16;     // head_dim = embed_dim / num_heads (80)
  int64_t mlp_hidden = 5120;  // embed_dim * mlp_ratio
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;     // spatial_merge_size: 2x2 patches -> 1 LLM token
  int64_t out_hidden = 1536;  // merger output = LLM hidden_size
  float norm_eps = 1e-6f;     // every vision LayerNorm

  int64_t head_dim() const { return embed_dim / num_heads; }
  // Values per patch row of pixel_values: 3 * 2 * 14 * 14 = 1176.
  int64_t patch_features() const {
    return in_channels * temporal_patch_size * patch_size * patch_size;
  }
  // Merger input width: embed_dim * merge_size^2 (5120).
  int64_t merged_dim() const { return embed_dim * merge_size * merge_size; }
};

struct TextDims {
  int64_t hidden_size = 1536;
  int64_t intermediate_size = 8960;
  int64_t num_layers = 28;
  int64_t num_heads = 12;
  int64_t num_kv_heads = 2;
  int64_t vocab_size = 151936;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 1000000.0;
  std::array<int64_t, 3> mrope_section = {16, 24, 24};  // sums to head_dim / 2
  bool tie_word_embeddings = true;

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t q_dim() const { return num_heads * head_dim(); }
  int64_t kv_dim() const { return num_kv_heads * head_dim(); }
};

struct ModelDims {
  VisionDims vision;
  TextDims text;
  VisionTokenIds tokens;
};

// Checks divisibility and positivity (heads divide widths, kv heads divide heads, the mrope
// sections sum to head_dim / 2, merger output equals the LLM width). kInvalidArgument naming
// the field otherwise.
Status validate_dims(const ModelDims& dims);

// The dims of a parsed config.json (model/config.h), validated with validate_dims.
Result<ModelDims> dims_from_config(const ModelConfig& config);

}  // namespace vcap::model

#endif  // VCAP_MODEL_MODEL_DIMS_H_
