// The AVX-512 inner loop of the CPU attention (attention.cpp): one task's queries against all
// their visible keys, tiled over keys with an online softmax.
#ifndef VCAP_TENSOR_CPU_ATTENTION_AVX512_H_
#define VCAP_TENSOR_CPU_ATTENTION_AVX512_H_

#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace vcap::tensor::cpu {

// True when the AVX-512 kernel handles this head size (head_dim a multiple of 16, <= 256).
bool attention_avx512_supports(const AttentionParams& params);

// For each lane l < lanes: out[l] = softmax(scale * q[l] . K[j]) V over keys j < end[l] of kv
// head `kv_head` of block.k / block.v (zeros when end[l] == 0). max_end = max of end.
// `scratch` is reused between calls of one thread. REQUIRES: the CPU has AVX-512 F/BW/DQ/VL.
void attention_task_avx512(const float* const* q, float* const* out, const int64_t* end,
                           int64_t lanes, int64_t max_end, const AttentionBlock& block, int kv_head,
                           const AttentionParams& params, std::vector<float>& scratch);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_AVX512_H_
