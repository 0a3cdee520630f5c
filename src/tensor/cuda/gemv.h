// Launcher of the product for few rows (gemv_kernel.h): what GemmEngine::matmul runs for a
// decode step's products with bf16 weights instead of cuBLASLt.
#ifndef VCAP_TENSOR_CUDA_GEMV_H_
#define VCAP_TENSOR_CUDA_GEMV_H_

#include <cuda_runtime_api.h>

#include <optional>

#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// Whether the kernel takes out = in * W^T for a bf16 weight [n, k] at `weight`: at most 16 rows
// of f32 or bf16 `in` whose rows start 16-byte aligned, k a multiple of 8 (so that weight rows
// are 16-byte aligned too) and an f32 `out`. Host code.
bool gemv_fits(TensorView out, TensorView in, const void* weight);

// out = in * W^T (+ bias) (+ out when `accumulate`), for a product gemv_fits takes; bias f32 [1,
// n]. Queues one kernel on `stream` and returns cudaGetLastError().
cudaError_t launch_gemv(cudaStream_t stream, TensorView out, TensorView in, const void* weight,
                        std::optional<TensorView> bias, bool accumulate);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_GEMV_H_
