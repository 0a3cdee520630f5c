// What the row and elementwise kernel bodies (row_kernels.h) share, written against simt.h so
// that it compiles with nvcc and with the host compiler for the tests' SIMT emulator: a plain
// view of a 2-D matrix that kernels take by value, the element types and their conversions
// (bit for bit those of tensor/dtype.h), a block-wide sum, and where a block sits in its grid.
#ifndef VCAP_TENSOR_CUDA_KERNEL_MATRIX_H_
#define VCAP_TENSOR_CUDA_KERNEL_MATRIX_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "tensor/cuda/simt.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// The block size of every kernel in row_kernels.h.
constexpr int kRowThreads = 256;
// Words of shared memory block_sum needs: one per warp.
constexpr int kBlockSumWords = kRowThreads / simt::kWarpSize;

// A row-major matrix of T as kernels see it: element (r, c) at data[r * stride + c].
template <class T>
struct Matrix {
  T* data;
  int64_t rows;
  int64_t cols;
  int64_t stride;

  VCAP_SIMT_FN T& at(int64_t r, int64_t c) const { return data[r * stride + c]; }
};

template <class T>
inline Matrix<T> matrix_of(TensorView view) {
  return Matrix<T>{reinterpret_cast<T*>(view.data), view.rows, view.cols, view.row_stride};
}

// Storage types: float for kF32, this for kBF16 (the raw bits; conversions below).
struct Bf16 {
  uint16_t bits;
};

// The raw bits of an IEEE half (host matrices only).
struct F16 {
  uint16_t bits;
};

VCAP_SIMT_FN float to_f32(float x) { return x; }
VCAP_SIMT_FN float to_f32(Bf16 x) { return simt::float_of(static_cast<uint32_t>(x.bits) << 16); }

// IEEE half -> f32, exact (subnormals, infinities and NaN included), as tensor::f16_to_f32.
VCAP_SIMT_FN float to_f32(F16 x) {
  const uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  const uint32_t exponent = (x.bits >> 10) & 0x1fu;
  const uint32_t mantissa = x.bits & 0x3ffu;
  if (exponent == 0x1fu) return simt::float_of(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return simt::float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in f32.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign != 0 ? -magnitude : magnitude;
}

// f32 -> T: itself, or bf16 rounded to nearest even with NaN kept quiet (tensor::f32_to_bf16).
template <class T>
VCAP_SIMT_FN T from_f32(float x) {
  if constexpr (std::is_same_v<T, Bf16>) {
    return Bf16{static_cast<uint16_t>(simt::bf16_bits(x))};
  } else {
    static_assert(std::is_same_v<T, float>, "kernels store f32 or bf16");
    return x;
  }
}

// Src -> Dst: the bits when the types are the same (NaN payloads included), else through f32.
template <class Dst, class Src>
VCAP_SIMT_FN Dst convert(Src x) {
  if constexpr (std::is_same_v<Dst, Src>) {
    return x;
  } else {
    return from_f32<Dst>(to_f32(x));
  }
}

// kWidth consecutive elements (1, or 4 as one access: 16 bytes of f32, 8 of bf16 or f16),
// widened to f32, rounded from it, or copied as they are (the bits, NaN payloads included):
// how kernels take their columns one or four at a time (fits_fours).
template <int kWidth, class T>
VCAP_SIMT_FN void load_group(const T* p, float (&v)[kWidth]) {
  if constexpr (kWidth == 1) {
    v[0] = to_f32(*p);
  } else if constexpr (std::is_same_v<T, float>) {
    static_assert(kWidth == 4, "groups of 1 or 4");
    const simt::Float4 q = simt::load_float4(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    static_assert(kWidth == 4 && sizeof(T) == 2, "groups of 1 or 4 f32, bf16 or f16");
    const simt::Word2 w = simt::load_word2(p);
    v[0] = to_f32(T{static_cast<uint16_t>(w.x & 0xffffu)});
    v[1] = to_f32(T{static_cast<uint16_t>(w.x >> 16)});
    v[2] = to_f32(T{static_cast<uint16_t>(w.y & 0xffffu)});
    v[3] = to_f32(T{static_cast<uint16_t>(w.y >> 16)});
  }
}

template <int kWidth, class T>
VCAP_SIMT_FN void store_group(T* p, const float (&v)[kWidth]) {
  if constexpr (kWidth == 1) {
    *p = from_f32<T>(v[0]);
  } else if constexpr (std::is_same_v<T, float>) {
    static_assert(kWidth == 4, "groups of 1 or 4");
    simt::store_float4(p, simt::float4_of(v[0], v[1], v[2], v[3]));
  } else {
    static_assert(kWidth == 4 && std::is_same_v<T, Bf16>, "groups of 1 or 4 f32 or bf16");
    simt::store_word2(p, simt::word2_of(simt::bf16_pair(v[0], v[1]), simt::bf16_pair(v[2], v[3])));
  }
}

template <int kWidth, class T>
VCAP_SIMT_FN void copy_group(T* dst, const T* src) {
  if constexpr (kWidth == 1) {
    *dst = *src;
  } else if constexpr (sizeof(T) == 4) {
    static_assert(kWidth == 4, "groups of 1 or 4");
    simt::store_float4(dst, simt::load_float4(src));
  } else {
    static_assert(kWidth == 4 && sizeof(T) == 2, "groups of 1 or 4 f32, bf16 or f16");
    simt::store_word2(dst, simt::load_word2(src));
  }
}

// One operand of a kernel as fits_fours sees it.
struct Operand {
  const void* data;
  int64_t row_stride;  // elements; 0 for a row broadcast to every row (a bias)
  size_t element_bytes;
};

inline Operand operand_of(TensorView view) {
  return Operand{view.data, view.row_stride, dtype_size(view.dtype)};
}

// A vector (a norm's weight, a bias) that every row reads.
inline Operand vector_operand(TensorView view) {
  return Operand{view.data, 0, dtype_size(view.dtype)};
}

// Whether a kernel over rows of `cols` columns may take them four at a time: a whole number of
// fours per row, and every operand's rows starting at addresses aligned for one access of four
// elements. Host code, when launching.
inline bool fits_fours(int64_t cols, std::initializer_list<Operand> operands) {
  if (cols % 4 != 0) return false;
  for (const Operand& operand : operands) {
    const auto address = reinterpret_cast<uintptr_t>(operand.data);
    if (operand.row_stride % 4 != 0 || address % (4 * operand.element_bytes) != 0) return false;
  }
  return true;
}

// Sum of `x` over a block of kRowThreads threads, returned to every thread. `scratch` holds
// kBlockSumWords floats. REQUIRES: every thread of the block calls it.
VCAP_SIMT_FN float block_sum(float x, float* scratch) {
  const int lane = simt::thread_rank() % simt::kWarpSize;
  const int warp = simt::thread_rank() / simt::kWarpSize;
  x = simt::warp_sum(x);
  simt::sync_block();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = x;
  simt::sync_block();
  float total = 0.0f;
  for (int w = 0; w < kBlockSumWords; ++w) total += scratch[w];  // same order in every thread
  return total;
}

// Where a block sits in a launch (blockIdx and gridDim on the GPU). Row kernels walk rows
// x, x + x_count, ...; elementwise kernels also split each row into y_count chunks of
// kRowThreads columns, or fours of columns (elementwise_grid), walking on chunk by chunk beyond
// the limit.
struct BlockPlace {
  int64_t x = 0;
  int64_t x_count = 1;
  int64_t y = 0;
  int64_t y_count = 1;

  VCAP_SIMT_FN int64_t first_column() const { return y * kRowThreads + simt::thread_rank(); }
  VCAP_SIMT_FN int64_t column_stride() const { return y_count * kRowThreads; }
};

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_KERNEL_MATRIX_H_
