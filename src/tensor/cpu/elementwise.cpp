#include "tensor/cpu/elementwise.h"

#include <cmath>
#include <cstring>

#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

constexpr float kQuickGeluAlpha = 1.702f;

// --- Row converters: one row of `count` elements from one dtype to another. ---

void row_f32_to_bf16_scalar(uint16_t* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = f32_to_bf16(src[i]);
}

// vcvtne2ps2bf16 rounds to nearest even like f32_to_bf16 (and quiets NaN the same way).
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void row_f32_to_bf16_avx512(
    uint16_t* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = simd::first_lanes(count - i);
    const __m512 x = _mm512_maskz_loadu_ps(mask, src + i);
    const __m256bh y = _mm512_cvtneps_pbh(x);
    _mm256_mask_storeu_epi16(dst + i, mask, reinterpret_cast<const __m256i&>(y));
  }
}

void row_bf16_to_f32(float* dst, const uint16_t* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(src[i]);
}

void row_f16_to_f32(float* dst, const uint16_t* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(src[i]);
}

void row_f16_to_bf16(uint16_t* dst, const uint16_t* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] = f32_to_bf16(f16_to_f32(src[i]));
}

void row_to_bf16(const CpuContext& context, uint16_t* dst, const float* src, int64_t count) {
  if (context.avx512_bf16) {
    row_f32_to_bf16_avx512(dst, src, count);
  } else {
    row_f32_to_bf16_scalar(dst, src, count);
  }
}

// Converts one row from `src_type` (host or device dtype) into dst's dtype.
void convert_row(const CpuContext& context, std::byte* dst, DType dst_type, const std::byte* src,
                 HostDType src_type, int64_t count) {
  const size_t src_bytes = static_cast<size_t>(count) * host_dtype_size(src_type);
  if (dst_type == DType::kF32) {
    auto* out = reinterpret_cast<float*>(dst);
    if (src_type == HostDType::kF32) std::memcpy(out, src, src_bytes);
    if (src_type == HostDType::kBF16) {
      row_bf16_to_f32(out, reinterpret_cast<const uint16_t*>(src), count);
    }
    if (src_type == HostDType::kF16) {
      row_f16_to_f32(out, reinterpret_cast<const uint16_t*>(src), count);
    }
    return;
  }
  auto* out = reinterpret_cast<uint16_t*>(dst);
  if (src_type == HostDType::kF32) {
    row_to_bf16(context, out, reinterpret_cast<const float*>(src), count);
  }
  if (src_type == HostDType::kBF16) std::memcpy(out, src, src_bytes);
  if (src_type == HostDType::kF16) {
    row_f16_to_bf16(out, reinterpret_cast<const uint16_t*>(src), count);
  }
}

HostDType as_host(DType dtype) { return dtype == DType::kF32 ? HostDType::kF32 : HostDType::kBF16; }

// --- Activations ---

float apply_scalar(float x, Activation kind) {
  switch (kind) {
    case Activation::kGeluErf:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::kQuickGelu:
      return x / (1.0f + std::exp(-kQuickGeluAlpha * x));
    case Activation::kSilu:
      return x / (1.0f + std::exp(-x));
  }
  return x;
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void sigmoid_row_avx512(float* out,
                                                                              const float* in,
                                                                              int64_t count,
                                                                              float alpha) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = simd::first_lanes(count - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, in + i);
    _mm512_mask_storeu_ps(out + i, mask, simd::x_sigmoid512(v, alpha));
  }
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void silu_mul_row_avx512(float* out,
                                                                               const float* gate,
                                                                               const float* up,
                                                                               int64_t count) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = simd::first_lanes(count - i);
    const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(mask, up + i);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(simd::x_sigmoid512(g, 1.0f), u));
  }
}

}  // namespace

void convert(const CpuContext& context, TensorView dst, TensorView src) {
  const size_t dst_elem = dtype_size(dst.dtype);
  const size_t src_elem = dtype_size(src.dtype);
#pragma omp parallel for num_threads(context.threads) schedule(static) if (dst.rows > 16)
  for (int64_t r = 0; r < dst.rows; ++r) {
    convert_row(context, dst.data + r * dst.row_stride * dst_elem, dst.dtype,
                src.data + r * src.row_stride * src_elem, as_host(src.dtype), dst.cols);
  }
}

void convert_from_host(const CpuContext& context, TensorView dst, const HostMatrix& host) {
  const size_t dst_elem = dtype_size(dst.dtype);
  const size_t src_row_bytes = static_cast<size_t>(host.cols) * host_dtype_size(host.dtype);
  const auto* src = static_cast<const std::byte*>(host.data);
#pragma omp parallel for num_threads(context.threads) schedule(static) if (dst.rows > 16)
  for (int64_t r = 0; r < dst.rows; ++r) {
    convert_row(context, dst.data + r * dst.row_stride * dst_elem, dst.dtype,
                src + r * src_row_bytes, host.dtype, dst.cols);
  }
}

void activation(const CpuContext& context, TensorView out, TensorView in, Activation kind) {
  const bool vector = context.avx512 && kind != Activation::kGeluErf;
  const float alpha = kind == Activation::kQuickGelu ? kQuickGeluAlpha : 1.0f;
#pragma omp parallel for num_threads(context.threads) schedule(static) if (in.rows > 4)
  for (int64_t r = 0; r < in.rows; ++r) {
    float* y = out.row<float>(r);
    const float* x = in.row<float>(r);
    if (vector) {
      sigmoid_row_avx512(y, x, in.cols, alpha);
    } else {
      for (int64_t c = 0; c < in.cols; ++c) y[c] = apply_scalar(x[c], kind);
    }
  }
}

void silu_mul(const CpuContext& context, TensorView out, TensorView gate, TensorView up) {
#pragma omp parallel for num_threads(context.threads) schedule(static) if (out.rows > 4)
  for (int64_t r = 0; r < out.rows; ++r) {
    float* o = out.row<float>(r);
    const float* g = gate.row<float>(r);
    const float* u = up.row<float>(r);
    if (context.avx512) {
      silu_mul_row_avx512(o, g, u, out.cols);
    } else {
      for (int64_t c = 0; c < out.cols; ++c) o[c] = apply_scalar(g[c], Activation::kSilu) * u[c];
    }
  }
}

void add(const CpuContext& context, TensorView inout, TensorView other) {
#pragma omp parallel for num_threads(context.threads) schedule(static) if (inout.rows > 16)
  for (int64_t r = 0; r < inout.rows; ++r) {
    float* x = inout.row<float>(r);
    const float* y = other.row<float>(r);
    for (int64_t c = 0; c < inout.cols; ++c) x[c] += y[c];
  }
}

void copy_rows(const CpuContext& context, TensorView dst, TensorView src,
               std::span<const int64_t> dst_rows) {
#pragma omp parallel for num_threads(context.threads) schedule(static) if (src.rows > 16)
  for (int64_t i = 0; i < src.rows; ++i) {
    std::memcpy(dst.row<float>(dst_rows[i]), src.row<float>(i),
                static_cast<size_t>(src.cols) * sizeof(float));
  }
}

}  // namespace vcap::tensor::cpu
