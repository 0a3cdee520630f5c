// The online-softmax step shared by the AVX-512 attention kernels (attention_avx512.cpp in f32,
// attention_bf16.cpp with bf16 products): one tile of scores, laid out with the task's queries
// along the vector lanes (st[key][lane]), so every operation is vertical.
#ifndef VCAP_TENSOR_CPU_ATTENTION_SOFTMAX_AVX512_H_
#define VCAP_TENSOR_CPU_ATTENTION_SOFTMAX_AVX512_H_

#include <cstdint>
#include <limits>

#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {

// Running softmax state of a task's queries, all arrays 64-byte aligned, lp = lanes rounded up
// to 16 (padding lanes have end 0).
struct SoftmaxTile {
  float* st;           // [count][lp] raw scores in, probabilities out (0 where not visible)
  float* max;          // [lp] running max of scale * score per query (-inf before any key)
  float* sum;          // [lp] running sum of exp(x - max) per query
  float* rescale;      // [lp] out: factor that brings earlier accumulations to the new max
  const int32_t* end;  // [lp] keys [0, end) are visible to each query
  int64_t lp = 0;
};

// Online-softmax step for every query over keys j0 .. j0 + count: st becomes probabilities
// exp(scale * s - new_max), max/sum are updated and rescale gets each query's correction factor.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] inline void softmax_tile(const SoftmaxTile& t,
                                                                               int64_t j0,
                                                                               int64_t count,
                                                                               float scale) {
  const __m512 minus_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t v = 0; v < t.lp; v += 16) {
    const __m512i end = _mm512_load_si512(t.end + v);
    __m512 tile_max = minus_inf;
    for (int64_t j = 0; j < count; ++j) {
      const __mmask16 visible =
          _mm512_cmplt_epi32_mask(_mm512_set1_epi32(static_cast<int32_t>(j0 + j)), end);
      float* row = t.st + j * t.lp + v;
      const __m512 x =
          _mm512_mask_mul_ps(minus_inf, visible, _mm512_load_ps(row), _mm512_set1_ps(scale));
      _mm512_store_ps(row, x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
    const __m512 old_max = _mm512_load_ps(t.max + v);
    const __m512 new_max = _mm512_max_ps(old_max, tile_max);
    // Queries that have seen no key yet keep max -inf; their p and rescale stay 0 (no NaN).
    const __mmask16 seen = _mm512_cmp_ps_mask(new_max, minus_inf, _CMP_NEQ_OQ);
    const __mmask16 had = _mm512_cmp_ps_mask(old_max, minus_inf, _CMP_NEQ_OQ);
    const __m512 rescale = _mm512_maskz_mov_ps(had, simd::exp512(_mm512_sub_ps(old_max, new_max)));
    __m512 total = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
      float* row = t.st + j * t.lp + v;
      const __m512 x = _mm512_load_ps(row);
      const __mmask16 finite = _mm512_cmp_ps_mask(x, minus_inf, _CMP_NEQ_OQ) & seen;
      const __m512 p = _mm512_maskz_mov_ps(finite, simd::exp512(_mm512_sub_ps(x, new_max)));
      total = _mm512_add_ps(total, p);
      _mm512_store_ps(row, p);
    }
    _mm512_store_ps(t.sum + v, _mm512_fmadd_ps(_mm512_load_ps(t.sum + v), rescale, total));
    _mm512_store_ps(t.max + v, new_max);
    _mm512_store_ps(t.rescale + v, rescale);
  }
}

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_SOFTMAX_AVX512_H_
