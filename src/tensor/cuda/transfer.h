// Launchers of the data-movement kernels: conversions between f32 and bf16 (and from a host
// matrix's f16), strided copies, row scatter and the embedding gather. Each queues one kernel
// on `stream` and returns cudaGetLastError() (cudaSuccess when there is nothing to do).
// Arguments are checked by the caller (cuda_backend.cpp); views point into device memory.
#ifndef VCAP_TENSOR_CUDA_TRANSFER_H_
#define VCAP_TENSOR_CUDA_TRANSFER_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "tensor/backend.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// dst = src: same shape, any strides, f32 or bf16 on either side (f32 -> bf16 rounds to
// nearest even, bit for bit as tensor::f32_to_bf16; same dtypes copy the bits).
cudaError_t launch_copy(cudaStream_t stream, TensorView dst, TensorView src);

// launch_copy of every pair, up to kMaxBatchCopies pairs per kernel (the pairs travel in the
// kernel's parameters: no table to upload). The pairs share their dst dtype and src dtype.
constexpr int kMaxBatchCopies = 64;
cudaError_t launch_copy_batch(cudaStream_t stream, std::span<const CopyPair> pairs);

// dst = the dst.rows * dst.cols values at `src` (device memory, row-major, contiguous) of type
// `src_dtype`, converted to dst.dtype: a host matrix copied to the device as it was.
cudaError_t launch_convert_host_rows(cudaStream_t stream, TensorView dst, const std::byte* src,
                                     HostDType src_dtype);

// dst row dst_rows[i] = src row i for i < src.rows (f32). dst_rows: device array.
cudaError_t launch_copy_rows(cudaStream_t stream, TensorView dst, TensorView src,
                             const int64_t* dst_rows);

// out row i = row ids[i] of `table` ([*, out.cols], contiguous, of table_dtype) widened to f32.
// ids: device array of out.rows ids, each already checked to lie inside the table.
cudaError_t launch_gather_rows(cudaStream_t stream, TensorView out, const std::byte* table,
                               DType table_dtype, const int32_t* ids);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_TRANSFER_H_
