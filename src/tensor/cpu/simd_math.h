// AVX-512 (and one AVX2) building blocks shared by the CPU kernels: exp, sigmoid-style
// activations, masked loads. Every function carries the same target attribute as its callers,
// so the project is not built with -march: kernels using these are reached only when
// CpuContext::avx512 (or avx2) is set.
//
// exp512 follows the classic Cephes expf scheme (range reduction by ln 2 split in two parts,
// degree-6 polynomial, scaling by 2^n with vscalefps), accurate to about 2 ulp; it returns 0
// below about -104 and +inf above 88.7, like expf.
#ifndef VCAP_TENSOR_CPU_SIMD_MATH_H_
#define VCAP_TENSOR_CPU_SIMD_MATH_H_

#include <cstdint>

#include "base/x86_intrinsics.h"

namespace vcap::tensor::cpu::simd {

// Mask of the first n (0..16) lanes.
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] inline __mmask16
first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] inline __m512 exp512(
    __m512 x) {
  const __m512 kLog2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 kLn2Hi = _mm512_set1_ps(0.693359375f);
  const __m512 kLn2Lo = _mm512_set1_ps(-2.12194440e-4f);
  const __m512 overflow = _mm512_set1_ps(88.7228391f);
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  const __mmask16 too_big = _mm512_cmp_ps_mask(x, overflow, _CMP_GT_OQ);
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, kLog2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, kLn2Hi, x);
  r = _mm512_fnmadd_ps(n, kLn2Lo, r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512 result = _mm512_scalef_ps(p, n);
  return _mm512_mask_blend_ps(too_big, result, _mm512_set1_ps(__builtin_huge_valf()));
}

// x / (1 + exp(-alpha * x)): silu (alpha 1) and quick_gelu (alpha 1.702).
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] inline __m512
x_sigmoid512(__m512 x, float alpha) {
  const __m512 e = exp512(_mm512_mul_ps(x, _mm512_set1_ps(-alpha)));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// exp for AVX2 + FMA (CPUs without AVX-512): exp512's polynomial, with 2^n built in the exponent
// field, which needs -126 <= n <= 127: x is taken at most 88 (the softmax asks x <= 0) and
// gives 0 below -87.33, where exp512 still gives denormals.
[[gnu::always_inline, gnu::target("avx2,fma")]] inline __m256 exp256(__m256 x) {
  const __m256 kLog2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 kLn2Hi = _mm256_set1_ps(0.693359375f);
  const __m256 kLn2Lo = _mm256_set1_ps(-2.12194440e-4f);
  const __m256 lowest = _mm256_set1_ps(-87.3365447f);  // ln 2^-126
  const __m256 too_small = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.0f));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, kLog2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, kLn2Hi, x);
  r = _mm256_fnmadd_ps(n, kLn2Lo, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(too_small, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

}  // namespace vcap::tensor::cpu::simd

#endif  // VCAP_TENSOR_CPU_SIMD_MATH_H_
