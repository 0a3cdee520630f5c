// The GEMM work of Qwen2-VL's stages, for benchmarks: the products with weight matrices the
// forward passes run (fused as the model runs them: q/k/v in one, gate/up in one), their FLOPs,
// and the bytes a decode step must stream. Attention, norms and activations are not counted:
// a stage's GEMM FLOPs over its wall time is the share of the machine's GEMM rate it achieves.
#ifndef VCAP_MODEL_GEMM_WORK_H_
#define VCAP_MODEL_GEMM_WORK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_dims.h"
#include "tensor/dtype.h"

namespace vcap::model {

// out[rows, n] = in[rows, k] · W[k, n], run `per_layer` times in each block or layer.
struct WeightGemm {
  std::string name;
  int64_t k = 0;
  int64_t n = 0;
};

// The GEMMs of one vision block (qkv, proj, fc1, fc2) and of one decoder layer (qkv, o,
// gate_up, down).
std::vector<WeightGemm> vision_block_gemms(const VisionDims& dims);
std::vector<WeightGemm> decoder_layer_gemms(const TextDims& dims);

// FLOPs of the vision tower on `patches` patches: patch embedding, every block, the merger.
double vision_gemm_flops(const VisionDims& dims, int64_t patches);

// FLOPs of the decoder layers on `tokens` tokens (no lm_head).
double decoder_gemm_flops(const TextDims& dims, int64_t tokens);

// FLOPs of the lm_head for `rows` rows of logits.
double lm_head_flops(const TextDims& dims, int64_t rows);

// Bytes one decode step reads at least: every decoder weight and the lm_head once, plus K and V
// of `cached_tokens` tokens (all sequences together) from the KV cache, both stored in `dtype`
// (Qwen2VL::kv_cache_dtype is the weights' dtype).
double decode_step_bytes(const TextDims& dims, tensor::DType dtype, int64_t cached_tokens);

}  // namespace vcap::model

#endif  // VCAP_MODEL_GEMM_WORK_H_
