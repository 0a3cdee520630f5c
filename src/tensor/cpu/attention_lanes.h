// The queries of one (block, kv head, row range) of Backend::attention as the CPU kernels see
// them: "lanes", lane = row * group + head-in-group (group = num_heads / num_kv_heads), so the
// query heads that share a kv head share every key and value they read (GQA).
#ifndef VCAP_TENSOR_CPU_ATTENTION_LANES_H_
#define VCAP_TENSOR_CPU_ATTENTION_LANES_H_

#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace vcap::tensor::cpu {

struct Lanes {
  std::vector<const float*> q;  // [lanes] -> head_dim values
  std::vector<float*> out;      // [lanes] -> head_dim values
  std::vector<int64_t> end;     // [lanes] keys [0, end) are visible
  int64_t max_end = 0;
};

// Rows [row_begin, row_begin + row_count) of `block` (block-relative) and every query head of
// kv head `kv_head`.
Lanes make_lanes(TensorView out, TensorView q, const AttentionBlock& block, int kv_head,
                 int64_t row_begin, int64_t row_count, const AttentionParams& params);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_LANES_H_
