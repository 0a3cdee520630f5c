#include "tensor/cuda/transfer.h"

#include <algorithm>
#include <type_traits>

#include "tensor/cuda/kernel_util.cuh"

namespace vcap::tensor::cuda {
namespace {

constexpr int kThreads = 256;

template <class Dst, class Src>
__device__ inline Dst convert(Src x) {
  if constexpr (std::is_same_v<Dst, Src>) {
    return x;  // same dtype: the bits, NaN payloads included
  } else {
    return from_f32<Dst>(to_f32(x));
  }
}

template <class Dst, class Src>
__global__ void copy_kernel(Matrix<Dst> dst, Matrix<const Src> src) {
  for (int64_t r = blockIdx.x; r < dst.rows; r += gridDim.x) {
    for (int64_t c = first_column(); c < dst.cols; c += column_stride()) {
      dst.at(r, c) = convert<Dst>(src.at(r, c));
    }
  }
}

template <class Dst, class Src>
cudaError_t copy_as(cudaStream_t stream, TensorView dst, Matrix<const Src> src) {
  copy_kernel<Dst, Src><<<elementwise_grid(dst.rows, dst.cols, kThreads), kThreads, 0, stream>>>(
      matrix_of<Dst>(dst), src);
  return cudaGetLastError();
}

template <class Src>
cudaError_t copy_to(cudaStream_t stream, TensorView dst, Matrix<const Src> src) {
  return dst.dtype == DType::kF32 ? copy_as<float>(stream, dst, src)
                                  : copy_as<Bf16>(stream, dst, src);
}

struct CopyDesc {
  std::byte* dst;
  const std::byte* src;
  int64_t dst_stride;
  int64_t src_stride;
  int64_t rows;
  int64_t cols;
};

// The parameters of one copy_batch kernel: 3 KB, inside the 4 KB a kernel's parameters may take.
struct CopyBatch {
  CopyDesc copies[kMaxBatchCopies];
};

// blockIdx.y picks the copy; __grid_constant__ lets threads index the parameter array in place
// instead of each copying it into local memory.
template <class Dst, class Src>
__global__ void copy_batch_kernel(const __grid_constant__ CopyBatch batch) {
  const CopyDesc& c = batch.copies[blockIdx.y];
  const Matrix<Dst> dst{reinterpret_cast<Dst*>(c.dst), c.rows, c.cols, c.dst_stride};
  const Matrix<const Src> src{reinterpret_cast<const Src*>(c.src), c.rows, c.cols, c.src_stride};
  for (int64_t r = blockIdx.x; r < dst.rows; r += gridDim.x) {
    for (int64_t col = threadIdx.x; col < dst.cols; col += blockDim.x) {
      dst.at(r, col) = convert<Dst>(src.at(r, col));
    }
  }
}

template <class Dst, class Src>
cudaError_t copy_batch_as(cudaStream_t stream, std::span<const CopyPair> pairs) {
  for (size_t first = 0; first < pairs.size(); first += kMaxBatchCopies) {
    const size_t count = std::min<size_t>(kMaxBatchCopies, pairs.size() - first);
    CopyBatch batch{};
    int64_t rows = 0;
    for (size_t i = 0; i < count; ++i) {
      const CopyPair& pair = pairs[first + i];
      batch.copies[i] = CopyDesc{pair.dst.data,       pair.src.data, pair.dst.row_stride,
                                 pair.src.row_stride, pair.dst.rows, pair.dst.cols};
      rows = std::max(rows, pair.dst.rows);
    }
    if (rows == 0) continue;
    const dim3 grid(row_blocks(rows), static_cast<unsigned>(count));
    copy_batch_kernel<Dst, Src><<<grid, kThreads, 0, stream>>>(batch);
    if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

__global__ void copy_rows_kernel(Matrix<float> dst, Matrix<const float> src,
                                 const int64_t* dst_rows) {
  for (int64_t i = blockIdx.x; i < src.rows; i += gridDim.x) {
    const int64_t row = dst_rows[i];
    for (int64_t c = threadIdx.x; c < src.cols; c += blockDim.x) dst.at(row, c) = src.at(i, c);
  }
}

template <class T>
__global__ void gather_rows_kernel(Matrix<float> out, const T* table, const int32_t* ids) {
  for (int64_t i = blockIdx.x; i < out.rows; i += gridDim.x) {
    const T* row = table + static_cast<int64_t>(ids[i]) * out.cols;
    for (int64_t c = threadIdx.x; c < out.cols; c += blockDim.x) out.at(i, c) = to_f32(row[c]);
  }
}

}  // namespace

cudaError_t launch_copy(cudaStream_t stream, TensorView dst, TensorView src) {
  if (dst.num_elements() == 0) return cudaSuccess;
  return src.dtype == DType::kF32 ? copy_to(stream, dst, matrix_of<const float>(src))
                                  : copy_to(stream, dst, matrix_of<const Bf16>(src));
}

cudaError_t launch_copy_batch(cudaStream_t stream, std::span<const CopyPair> pairs) {
  if (pairs.empty()) return cudaSuccess;
  const bool f32_dst = pairs[0].dst.dtype == DType::kF32;
  if (pairs[0].src.dtype == DType::kF32) {
    return f32_dst ? copy_batch_as<float, float>(stream, pairs)
                   : copy_batch_as<Bf16, float>(stream, pairs);
  }
  return f32_dst ? copy_batch_as<float, Bf16>(stream, pairs)
                 : copy_batch_as<Bf16, Bf16>(stream, pairs);
}

cudaError_t launch_convert_host_rows(cudaStream_t stream, TensorView dst, const std::byte* src,
                                     HostDType src_dtype) {
  if (dst.num_elements() == 0) return cudaSuccess;
  auto source = [&](auto* typed) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(typed)>>;
    return Matrix<const T>{typed, dst.rows, dst.cols, dst.cols};
  };
  switch (src_dtype) {
    case HostDType::kF32:
      return copy_to(stream, dst, source(reinterpret_cast<const float*>(src)));
    case HostDType::kBF16:
      return copy_to(stream, dst, source(reinterpret_cast<const Bf16*>(src)));
    case HostDType::kF16:
      return copy_to(stream, dst, source(reinterpret_cast<const F16*>(src)));
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_copy_rows(cudaStream_t stream, TensorView dst, TensorView src,
                             const int64_t* dst_rows) {
  if (src.num_elements() == 0) return cudaSuccess;
  copy_rows_kernel<<<row_blocks(src.rows), kThreads, 0, stream>>>(
      matrix_of<float>(dst), matrix_of<const float>(src), dst_rows);
  return cudaGetLastError();
}

cudaError_t launch_gather_rows(cudaStream_t stream, TensorView out, const std::byte* table,
                               DType table_dtype, const int32_t* ids) {
  if (out.num_elements() == 0) return cudaSuccess;
  if (table_dtype == DType::kF32) {
    gather_rows_kernel<<<row_blocks(out.rows), kThreads, 0, stream>>>(
        matrix_of<float>(out), reinterpret_cast<const float*>(table), ids);
  } else {
    gather_rows_kernel<<<row_blocks(out.rows), kThreads, 0, stream>>>(
        matrix_of<float>(out), reinterpret_cast<const Bf16*>(table), ids);
  }
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
