#include "tensor/cuda/transfer.h"

#include <algorithm>
#include <type_traits>

#include "tensor/cuda/kernel_util.cuh"
#include "tensor/cuda/row_kernels.h"

namespace vcap::tensor::cuda {
namespace {

template <class Dst, class Src>
__global__ void __launch_bounds__(kRowThreads)
    copy_kernel(Matrix<Dst> dst, Matrix<const Src> src, bool fours) {
  copy_block(dst, src, fours, this_block());
}

template <class Dst, class Src>
cudaError_t copy_as(cudaStream_t stream, TensorView dst, Matrix<const Src> src) {
  const bool fours =
      fits_fours(dst.cols, {operand_of(dst), Operand{src.data, src.stride, sizeof(Src)}});
  copy_kernel<Dst, Src><<<elementwise_grid(dst.rows, dst.cols, fours), kRowThreads, 0, stream>>>(
      matrix_of<Dst>(dst), src, fours);
  return cudaGetLastError();
}

template <class Src>
cudaError_t copy_to(cudaStream_t stream, TensorView dst, Matrix<const Src> src) {
  return dst.dtype == DType::kF32 ? copy_as<float>(stream, dst, src)
                                  : copy_as<Bf16>(stream, dst, src);
}

// The parameters of one copy_batch kernel: 3 KB, inside the 4 KB a kernel's parameters may take.
struct CopyBatch {
  CopyDesc copies[kMaxBatchCopies];
};

// blockIdx.y picks the copy; __grid_constant__ lets threads index the parameter array in place
// instead of each copying it into local memory.
template <class Dst, class Src>
__global__ void __launch_bounds__(kRowThreads)
    copy_batch_kernel(const __grid_constant__ CopyBatch batch) {
  copy_desc_block<Dst, Src>(batch.copies[blockIdx.y], BlockPlace{blockIdx.x, gridDim.x});
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
    copy_batch_kernel<Dst, Src><<<grid, kRowThreads, 0, stream>>>(batch);
    if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

__global__ void __launch_bounds__(kRowThreads)
    copy_rows_kernel(Matrix<float> dst, Matrix<const float> src, const int64_t* dst_rows) {
  copy_rows_block(dst, src, dst_rows, this_block());
}

template <class T>
__global__ void __launch_bounds__(kRowThreads)
    gather_rows_kernel(Matrix<float> out, const T* table, const int32_t* ids) {
  gather_rows_block(out, table, ids, this_block());
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
  copy_rows_kernel<<<row_blocks(src.rows), kRowThreads, 0, stream>>>(
      matrix_of<float>(dst), matrix_of<const float>(src), dst_rows);
  return cudaGetLastError();
}

cudaError_t launch_gather_rows(cudaStream_t stream, TensorView out, const std::byte* table,
                               DType table_dtype, const int32_t* ids) {
  if (out.num_elements() == 0) return cudaSuccess;
  if (table_dtype == DType::kF32) {
    gather_rows_kernel<<<row_blocks(out.rows), kRowThreads, 0, stream>>>(
        matrix_of<float>(out), reinterpret_cast<const float*>(table), ids);
  } else {
    gather_rows_kernel<<<row_blocks(out.rows), kRowThreads, 0, stream>>>(
        matrix_of<float>(out), reinterpret_cast<const Bf16*>(table), ids);
  }
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
