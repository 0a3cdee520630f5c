#include "tensor/cpu/norm.h"

#include <cmath>

#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

// Two passes (mean, then the centred sum of squares), as torch does: one pass with
// E[x^2] - E[x]^2 loses digits when |mean| >> std.
void layer_norm_row_scalar(float* out, const float* in, const float* w, const float* b, int64_t n,
                           float eps) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += in[i];
  const float mean = sum / static_cast<float>(n);
  float squares = 0.0f;
  for (int64_t i = 0; i < n; ++i) squares += (in[i] - mean) * (in[i] - mean);
  const float rstd = 1.0f / std::sqrt(squares / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (in[i] - mean) * rstd * w[i] + b[i];
}

void rms_norm_row_scalar(float* out, const float* in, const float* w, int64_t n, float eps) {
  float squares = 0.0f;
  for (int64_t i = 0; i < n; ++i) squares += in[i] * in[i];
  const float rstd = 1.0f / std::sqrt(squares / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (in[i] * rstd) * w[i];
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void layer_norm_row_avx512(
    float* out, const float* in, const float* w, const float* b, int64_t n, float eps) {
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(simd::first_lanes(n - i), in + i));
  }
  const float mean = _mm512_reduce_add_ps(sum) / static_cast<float>(n);
  const __m512 mean_v = _mm512_set1_ps(mean);
  __m512 squares = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = simd::first_lanes(n - i);
    const __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, in + i), mean_v);
    squares = _mm512_fmadd_ps(d, d, squares);
  }
  const float variance = _mm512_reduce_add_ps(squares) / static_cast<float>(n);
  const __m512 rstd = _mm512_set1_ps(1.0f / std::sqrt(variance + eps));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = simd::first_lanes(n - i);
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, in + i), mean_v);
    const __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(d, rstd), _mm512_maskz_loadu_ps(mask, w + i),
                                     _mm512_maskz_loadu_ps(mask, b + i));
    _mm512_mask_storeu_ps(out + i, mask, y);
  }
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void rms_norm_row_avx512(
    float* out, const float* in, const float* w, int64_t n, float eps) {
  __m512 squares = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 x = _mm512_maskz_loadu_ps(simd::first_lanes(n - i), in + i);
    squares = _mm512_fmadd_ps(x, x, squares);
  }
  const float mean_square = _mm512_reduce_add_ps(squares) / static_cast<float>(n);
  const __m512 rstd = _mm512_set1_ps(1.0f / std::sqrt(mean_square + eps));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = simd::first_lanes(n - i);
    const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, in + i), rstd);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(x, _mm512_maskz_loadu_ps(mask, w + i)));
  }
}

}  // namespace

void layer_norm(const CpuContext& context, TensorView out, TensorView in, TensorView weight,
                TensorView bias, float eps) {
  const float* w = weight.ptr<float>();
  const float* b = bias.ptr<float>();
#pragma omp parallel for num_threads(context.threads) schedule(static) if (in.rows > 4)
  for (int64_t r = 0; r < in.rows; ++r) {
    if (context.avx512) {
      layer_norm_row_avx512(out.row<float>(r), in.row<float>(r), w, b, in.cols, eps);
    } else {
      layer_norm_row_scalar(out.row<float>(r), in.row<float>(r), w, b, in.cols, eps);
    }
  }
}

void rms_norm(const CpuContext& context, TensorView out, TensorView in, TensorView weight,
              float eps) {
  const float* w = weight.ptr<float>();
#pragma omp parallel for num_threads(context.threads) schedule(static) if (in.rows > 4)
  for (int64_t r = 0; r < in.rows; ++r) {
    if (context.avx512) {
      rms_norm_row_avx512(out.row<float>(r), in.row<float>(r), w, in.cols, eps);
    } else {
      rms_norm_row_scalar(out.row<float>(r), in.row<float>(r), w, in.cols, eps);
    }
  }
}

}  // namespace vcap::tensor::cpu
