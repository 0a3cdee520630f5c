// The AVX512-BF16 inner loop of the CPU attention (attention.cpp), used when
// AttentionParams::bf16_products is set and the CPU has AVX512_BF16: the same tiling and online
// softmax as attention_avx512.h, but both products (Q.K^T and P.V) run as bf16 pair dot
// products (vdpbf16ps) with f32 accumulation, about twice the f32 FMA rate.
//
// Rounding: q, k, v and the softmax weights p = exp(s - max) are rounded to bf16 (nearest
// even) before the products; the scores, running max, running sum (of the unrounded p) and the
// output accumulators stay f32.
#ifndef VCAP_TENSOR_CPU_ATTENTION_BF16_H_
#define VCAP_TENSOR_CPU_ATTENTION_BF16_H_

#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace vcap::tensor::cpu {

// Per-thread buffers reused between the tasks of one thread.
struct AttentionBf16Scratch {
  std::vector<float> values;     // scores, softmax state, output accumulators
  std::vector<uint32_t> packed;  // bf16 pairs of q, the key tile, the value tile and p
};

// True when the bf16 kernel handles this head size (head_dim a multiple of 16, <= 256).
bool attention_bf16_supports(const AttentionParams& params);

// For each lane l < lanes: out[l] = softmax(scale * q[l] . K[j]) V over keys j < end[l] of kv
// head `kv_head` of block.k / block.v (zeros when end[l] == 0), with bf16 products as above.
// max_end = max of end. REQUIRES: the CPU has AVX-512 F/BW/DQ/VL and AVX512_BF16.
void attention_task_bf16(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const AttentionBlock& block, int kv_head,
                         const AttentionParams& params, AttentionBf16Scratch& scratch);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_BF16_H_
