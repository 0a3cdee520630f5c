// Launchers of the row normalisations (one warp per row for rows of up to kWarpRowColumns
// columns whose operands are aligned for four at a time, the model's; else one thread block per
// row; statistics in f32 with warp and block reductions). Each queues one kernel on `stream` and
// returns cudaGetLastError(). out may be the same view as in, or bf16 (rounded to nearest even).
// Shapes are checked by the caller.
#ifndef VCAP_TENSOR_CUDA_NORM_H_
#define VCAP_TENSOR_CUDA_NORM_H_

#include <cuda_runtime_api.h>

#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// out = (in - mean) / sqrt(var + eps) * weight + bias; two passes (mean, then the centred
// squares) like the CPU backend and torch.
cudaError_t launch_layer_norm(cudaStream_t stream, TensorView out, TensorView in,
                              TensorView weight, TensorView bias, float eps);

// out = (in / sqrt(mean(in^2) + eps)) * weight.
cudaError_t launch_rms_norm(cudaStream_t stream, TensorView out, TensorView in, TensorView weight,
                            float eps);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_NORM_H_
