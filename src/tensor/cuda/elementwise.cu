#include "tensor/cuda/elementwise.h"

#include "tensor/cuda/kernel_util.cuh"
#include "tensor/cuda/row_kernels.h"

namespace vcap::tensor::cuda {
namespace {

template <Activation kKind, class Out>
__global__ void __launch_bounds__(kRowThreads)
    activation_kernel(Matrix<Out> out, Matrix<const float> in, bool fours) {
  activation_block<kKind>(out, in, fours, this_block());
}

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    silu_mul_kernel(Matrix<Out> out, Matrix<const float> gate, Matrix<const float> up, bool fours) {
  silu_mul_block(out, gate, up, fours, this_block());
}

__global__ void __launch_bounds__(kRowThreads)
    add_kernel(Matrix<float> inout, Matrix<const float> other, bool fours) {
  add_block(inout, other, fours, this_block());
}

template <Activation kKind>
cudaError_t activation_as(cudaStream_t stream, TensorView out, TensorView in) {
  const bool fours = fits_fours(in.cols, {operand_of(out), operand_of(in)});
  return with_output(out, [&](auto typed_out) {
    activation_kernel<kKind><<<elementwise_grid(in.rows, in.cols, fours), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), fours);
    return cudaGetLastError();
  });
}

cudaError_t launch_add_matrix(cudaStream_t stream, TensorView inout, Matrix<const float> other,
                              Operand other_operand) {
  const bool fours = fits_fours(inout.cols, {operand_of(inout), other_operand});
  add_kernel<<<elementwise_grid(inout.rows, inout.cols, fours), kRowThreads, 0, stream>>>(
      matrix_of<float>(inout), other, fours);
  return cudaGetLastError();
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
  const bool fours = fits_fours(out.cols, {operand_of(out), operand_of(gate), operand_of(up)});
  return with_output(out, [&](auto typed_out) {
    silu_mul_kernel<<<elementwise_grid(out.rows, out.cols, fours), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(gate), matrix_of<const float>(up), fours);
    return cudaGetLastError();
  });
}

cudaError_t launch_add(cudaStream_t stream, TensorView inout, TensorView other) {
  if (inout.num_elements() == 0) return cudaSuccess;
  return launch_add_matrix(stream, inout, matrix_of<const float>(other), operand_of(other));
}

cudaError_t launch_add_bias(cudaStream_t stream, TensorView inout, TensorView bias) {
  if (inout.num_elements() == 0) return cudaSuccess;
  // The bias row, read as a matrix whose every row is that row.
  const auto* values = reinterpret_cast<const float*>(bias.data);
  return launch_add_matrix(stream, inout, Matrix<const float>{values, inout.rows, inout.cols, 0},
                           vector_operand(bias));
}

}  // namespace vcap::tensor::cuda
