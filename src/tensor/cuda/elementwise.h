// Launchers of the elementwise kernels (f32 views, any row strides; the outputs of activation
// and silu_mul may be bf16, rounded to nearest even). Each queues one kernel on
// `stream` and returns cudaGetLastError() (cudaSuccess when there is nothing to do). Formulas
// are those of tensor/backend.h, in f32 without fast-math approximations (expf, erff).
#ifndef VCAP_TENSOR_CUDA_ELEMENTWISE_H_
#define VCAP_TENSOR_CUDA_ELEMENTWISE_H_

#include <cuda_runtime_api.h>

#include "tensor/backend.h"

namespace vcap::tensor::cuda {

// out = f(in); out may be the same view as in.
cudaError_t launch_activation(cudaStream_t stream, TensorView out, TensorView in, Activation kind);

// out = silu(gate) * up; out may be the same view as gate or up.
cudaError_t launch_silu_mul(cudaStream_t stream, TensorView out, TensorView gate, TensorView up);

// inout += other.
cudaError_t launch_add(cudaStream_t stream, TensorView inout, TensorView other);

// inout[r][c] += bias[0][c] for every row.
cudaError_t launch_add_bias(cudaStream_t stream, TensorView inout, TensorView bias);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ELEMENTWISE_H_
