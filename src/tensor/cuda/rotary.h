// Launcher of the in-place rotary embedding (tensor/backend.h Backend::rotary): queues one
// kernel on `stream` and returns cudaGetLastError(). Shapes are checked by the caller.
#ifndef VCAP_TENSOR_CUDA_ROTARY_H_
#define VCAP_TENSOR_CUDA_ROTARY_H_

#include <cuda_runtime_api.h>

#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// x: [rows, num_heads * head_dim]; cos, sin: [rows, head_dim / 2].
cudaError_t launch_rotary(cudaStream_t stream, TensorView x, TensorView cos, TensorView sin,
                          int num_heads, int head_dim);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ROTARY_H_
