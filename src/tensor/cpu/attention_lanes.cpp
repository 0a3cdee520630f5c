#include "tensor/cpu/attention_lanes.h"

#include <algorithm>

namespace vcap::tensor::cpu {

Lanes make_lanes(TensorView out, TensorView q, const AttentionBlock& block, int kv_head,
                 int64_t row_begin, int64_t row_count, const AttentionParams& params) {
  const int group = params.num_heads / params.num_kv_heads;
  const int64_t k_count = block.k.rows;
  Lanes lanes;
  for (int64_t i = row_begin; i < row_begin + row_count; ++i) {
    int64_t end = k_count;
    if (block.causal) end = std::clamp<int64_t>(i + block.causal_offset + 1, 0, k_count);
    for (int e = 0; e < group; ++e) {
      const int64_t column = static_cast<int64_t>(kv_head * group + e) * params.head_dim;
      lanes.q.push_back(q.row<float>(block.q_begin + i) + column);
      lanes.out.push_back(out.row<float>(block.q_begin + i) + column);
      lanes.end.push_back(end);
      lanes.max_end = std::max(lanes.max_end, end);
    }
  }
  return lanes;
}

}  // namespace vcap::tensor::cpu
