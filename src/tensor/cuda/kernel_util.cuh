// Device-side helpers shared by the kernels: element conversions that match tensor/dtype.h bit
// for bit, warp and block reductions, and a plain view of a 2-D matrix that kernels can take
// by value. Included by .cu files only.
#ifndef VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_
#define VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/simt.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

using simt::kWarpSize;

// A row-major matrix of T as kernels see it: element (r, c) at data[r * stride + c].
template <class T>
struct Matrix {
  T* data;
  int64_t rows;
  int64_t cols;
  int64_t stride;

  __device__ T& at(int64_t r, int64_t c) const { return data[r * stride + c]; }
};

template <class T>
inline Matrix<T> matrix_of(TensorView view) {
  return Matrix<T>{reinterpret_cast<T*>(view.data), view.rows, view.cols, view.row_stride};
}

// Storage types: float for kF32, this for kBF16 (the raw bits; conversions below).
struct Bf16 {
  uint16_t bits;
};

__device__ inline float to_f32(float x) { return x; }
__device__ inline float to_f32(Bf16 x) {
  return __uint_as_float(static_cast<uint32_t>(x.bits) << 16);
}

// f32 -> bf16 rounding to nearest even, NaN kept quiet: the same bits as tensor::f32_to_bf16.
__device__ inline Bf16 to_bf16(float value) {
  return Bf16{static_cast<uint16_t>(simt::bf16_bits(value))};
}

// The raw bits of an IEEE half (host matrices only).
struct F16 {
  uint16_t bits;
};
__device__ inline float f16_bits_to_f32(uint16_t h);
__device__ inline float to_f32(F16 x) { return f16_bits_to_f32(x.bits); }

template <class T>
__device__ inline T from_f32(float x);
template <>
__device__ inline float from_f32<float>(float x) {
  return x;
}
template <>
__device__ inline Bf16 from_f32<Bf16>(float x) {
  return to_bf16(x);
}

// IEEE half -> f32, exact (subnormals, infinities and NaN included), as tensor::f16_to_f32.
__device__ inline float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return __uint_as_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in f32.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign != 0 ? -magnitude : magnitude;
}

// Calls launch(matrix) with out as a Matrix<float> or, for a bf16 out (a bf16 matmul's input,
// tensor/backend.h), a Matrix<Bf16>; kernels store from_f32<Out>(value) into it.
template <class Launch>
cudaError_t with_output(TensorView out, Launch&& launch) {
  return out.dtype == DType::kBF16 ? launch(matrix_of<Bf16>(out)) : launch(matrix_of<float>(out));
}

using simt::warp_max;
using simt::warp_sum;

// Sum of `x` over the block, returned to every thread. `scratch` holds one float per warp;
// REQUIRES: blockDim.x is a multiple of 32, every thread of the block calls it.
__device__ inline float block_sum(float x, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  x = warp_sum(x);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += scratch[w];  // same order in every thread
  return total;
}

// Grid size for one block per row, grid-stride beyond the limit.
inline unsigned row_blocks(int64_t rows) {
  constexpr int64_t kMaxBlocks = int64_t{1} << 30;
  return static_cast<unsigned>(rows < kMaxBlocks ? rows : kMaxBlocks);
}

// Grid of the elementwise kernels: x walks the rows (grid-stride beyond the limit), y splits
// each row into chunks of `threads` columns. Rows alone would leave a decode step's few long
// rows (8 rows of 8960 for silu_mul) to 8 blocks whose threads each walk 35 columns, one load
// after another.
inline dim3 elementwise_grid(int64_t rows, int64_t cols, int threads) {
  constexpr int64_t kMaxChunks = 65535;  // gridDim.y's limit; beyond it threads stride on
  const int64_t chunks = (cols + threads - 1) / threads;
  return dim3(row_blocks(rows), static_cast<unsigned>(chunks < kMaxChunks ? chunks : kMaxChunks));
}

// This thread's first column and its column stride in an elementwise_grid launch.
__device__ inline int64_t first_column() {
  return static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t column_stride() { return static_cast<int64_t>(gridDim.y) * blockDim.x; }

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_
