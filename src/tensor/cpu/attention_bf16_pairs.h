// bf16 pair conversions shared by the bf16 attention kernel (attention_bf16.cpp), the packing
// of keys and values (attention_bf16_pack.cpp) and the decode kernel (attention_decode.cpp).
// Callers carry the same target attribute (AVX-512 F/BW/DQ/VL and AVX512_BF16). Both round to
// nearest even.
#ifndef VCAP_TENSOR_CPU_ATTENTION_BF16_PAIRS_H_
#define VCAP_TENSOR_CPU_ATTENTION_BF16_PAIRS_H_

#include <cstdint>

#include "tensor/cpu/simd_math.h"  // immintrin.h without GCC 12's spurious warnings

namespace vcap::tensor::cpu {

// Packed key rows are padded to a multiple of this (the keys of one score register block).
constexpr int kBf16KeyRowMultiple = 4;

// out[i] = (bf16(x[2i]), bf16(x[2i+1])) for i < dim/2: a plain conversion, as element 2i of a
// bf16 vector is the low half of its 32-bit lane i. REQUIRES: dim % 16 == 0.
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline void
pack_bf16_row(const float* x, int dim, uint32_t* out) {
  int d = 0;
  for (; d + 32 <= dim; d += 32) {
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + d + 16), _mm512_loadu_ps(x + d));
    _mm512_storeu_si512(out + d / 2, reinterpret_cast<__m512i>(b));
  }
  if (d < dim) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d / 2), reinterpret_cast<__m256i>(b));
  }
}

// 32-bit lane i = (bf16(a[i]), bf16(b[i])).
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512i
interleave_bf16(__m512 a, __m512 b) {
  // Word 2i takes word i of cvtne2ps (a), word 2i+1 takes word 16 + i (b).
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i index = _mm512_add_epi32(_mm512_mullo_epi32(iota, _mm512_set1_epi32(0x10001)),
                                         _mm512_set1_epi32(0x100000));
  return _mm512_permutexvar_epi16(index, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
}

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_BF16_PAIRS_H_
