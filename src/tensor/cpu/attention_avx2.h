// The AVX2 + FMA inner loop of the CPU attention (attention.cpp), for CPUs without AVX-512
// (AMD Zen 2/3, Intel before Skylake-SP): the AVX-512 kernel's scheme on 8-lane vectors. The
// portable loop it replaces there takes one query at a time and ran about 50 times slower.
#ifndef VCAP_TENSOR_CPU_ATTENTION_AVX2_H_
#define VCAP_TENSOR_CPU_ATTENTION_AVX2_H_

#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace vcap::tensor::cpu {

// True when the AVX2 kernel handles this head size (head_dim a multiple of 8, <= 256).
bool attention_avx2_supports(const AttentionParams& params);

// As attention_task_avx512 (attention_avx512.h). REQUIRES: the CPU has AVX2 and FMA.
void attention_task_avx2(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const AttentionBlock& block, int kv_head,
                         const AttentionParams& params, std::vector<float>& scratch);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_AVX2_H_
