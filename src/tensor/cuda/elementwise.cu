#include "tensor/cuda/elementwise.h"

#include "tensor/cuda/kernel_util.cuh"
#include "tensor/cuda/row_kernels.h"

namespace vcap::tensor::cuda {
namespace {

template <Activation kKind, class Out>
__global__ void __launch_bounds__(kRowThreads)
    activation_kernel(Matrix<Out> out, Matrix<const float> in) {
  activation_block<kKind>(out, in, this_block());
}

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    silu_mul_kernel(Matrix<Out> out, Matrix<const float> gate, Matrix<const float> up) {
  silu_mul_block(out, gate, up, this_block());
}

__global__ void __launch_bounds__(kRowThreads)
    add_kernel(Matrix<float> inout, Matrix<const float> other) {
  add_block(inout, other, this_block());
}

__global__ void __launch_bounds__(kRowThreads)
    add_bias_kernel(Matrix<float> inout, const float* bias) {
  add_bias_block(inout, bias, this_block());
}

template <Activation kKind>
cudaError_t activation_as(cudaStream_t stream, TensorView out, TensorView in) {
  return with_output(out, [&](auto typed_out) {
    activation_kernel<kKind><<<elementwise_grid(in.rows, in.cols), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in));
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t launch_activation(cudaStream_t stream, TensorView out, TensorView in, Activation kind) {
  if (in.num_elements() == 0) return cudaSuccess;
  switch (kind) {
    case Activation::kGeluErf:
      return activation_as<Activation::kGeluErf>(stream, out, in);
    case Activation::kQuickGelu:
      return activation_as<Activation::kQuickGelu>(stream, out, in);
    case Activation::kSilu:
      return activation_as<Activation::kSilu>(stream, out, in);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_silu_mul(cudaStream_t stream, TensorView out, TensorView gate, TensorView up) {
  if (out.num_elements() == 0) return cudaSuccess;
  return with_output(out, [&](auto typed_out) {
    silu_mul_kernel<<<elementwise_grid(out.rows, out.cols), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(gate), matrix_of<const float>(up));
    return cudaGetLastError();
  });
}

cudaError_t launch_add(cudaStream_t stream, TensorView inout, TensorView other) {
  if (inout.num_elements() == 0) return cudaSuccess;
  add_kernel<<<elementwise_grid(inout.rows, inout.cols), kRowThreads, 0, stream>>>(
      matrix_of<float>(inout), matrix_of<const float>(other));
  return cudaGetLastError();
}

cudaError_t launch_add_bias(cudaStream_t stream, TensorView inout, TensorView bias) {
  if (inout.num_elements() == 0) return cudaSuccess;
  add_bias_kernel<<<elementwise_grid(inout.rows, inout.cols), kRowThreads, 0, stream>>>(
      matrix_of<float>(inout), reinterpret_cast<const float*>(bias.data));
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
