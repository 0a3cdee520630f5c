// Launcher of the product for few rows (gemv_kernel.h): what GemmEngine::matmul runs for a
// decode step's products with bf16 weights instead of cuBLASLt.
#ifndef VCAP_TENSOR_CUDA_GEMV_H_
#define VCAP_TENSOR_CUDA_GEMV_H_

#include <cuda_runtime_api.h>

#include <optional>

#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// out = in * W^T (+ bias) (+ out when `accumulate`) for a bf16 weight [n, k] at `weight` and at
// most kGemvMaxRows rows of f32 or bf16 `in`, whose rows and the weight's start 16-byte aligned
// (k % 8 == 0), into an f32 `out`; bias f32 [1, n]. Queues one kernel on `stream` and returns
// cudaGetLastError().
cudaError_t launch_gemv(cudaStream_t stream, TensorView out, TensorView in, const void* weight,
                        std::optional<TensorView> bias, bool accumulate);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_GEMV_H_
