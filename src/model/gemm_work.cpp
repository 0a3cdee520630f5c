#include "model/gemm_work.h"

#include "model/kv_cache.h"

namespace vcap::model {
namespace {

double flops_of(const std::vector<WeightGemm>& gemms, int64_t rows) {
  double total = 0;
  for (const WeightGemm& g : gemms) total += 2.0 * static_cast<double>(rows) * g.k * g.n;
  return total;
}

}  // namespace

std::vector<WeightGemm> vision_block_gemms(const VisionDims& dims) {
  const int64_t e = dims.embed_dim;
  return {{"vision qkv", e, 3 * e},
          {"vision proj", e, e},
          {"vision fc1", e, dims.mlp_hidden},
          {"vision fc2", dims.mlp_hidden, e}};
}

std::vector<WeightGemm> decoder_layer_gemms(const TextDims& dims) {
  const int64_t h = dims.hidden_size;
  return {{"llm qkv", h, dims.q_dim() + 2 * dims.kv_dim()},
          {"llm o", dims.q_dim(), h},
          {"llm gate_up", h, 2 * dims.intermediate_size},
          {"llm down", dims.intermediate_size, h}};
}

double vision_gemm_flops(const VisionDims& dims, int64_t patches) {
  const double embed = 2.0 * static_cast<double>(patches) * dims.patch_features() * dims.embed_dim;
  const double blocks = dims.depth * flops_of(vision_block_gemms(dims), patches);
  const int64_t merged_rows = patches / (dims.merge_size * dims.merge_size);
  const double merger = 2.0 * static_cast<double>(merged_rows) * dims.merged_dim() *
                        (dims.merged_dim() + dims.out_hidden);
  return embed + blocks + merger;
}

double decoder_gemm_flops(const TextDims& dims, int64_t tokens) {
  return dims.num_layers * flops_of(decoder_layer_gemms(dims), tokens);
}

double lm_head_flops(const TextDims& dims, int64_t rows) {
  return 2.0 * static_cast<double>(rows) * dims.hidden_size * dims.vocab_size;
}

double decode_step_bytes(const TextDims& dims, tensor::DType dtype, int64_t cached_tokens) {
  double weights = static_cast<double>(dims.hidden_size) * dims.vocab_size;  // lm_head
  for (const WeightGemm& g : decoder_layer_gemms(dims))
    weights += static_cast<double>(dims.num_layers) * g.k * g.n;
  return weights * static_cast<double>(tensor::dtype_size(dtype)) +
         static_cast<double>(KvCache::bytes_per_token(dims, dtype)) *
             static_cast<double>(cached_tokens);
}

}  // namespace vcap::model
