#include "tensor/cuda/norm.h"

#include "tensor/cuda/kernel_util.cuh"
#include "tensor/cuda/row_kernels.h"

namespace vcap::tensor::cuda {
namespace {

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight,
                      const float* bias, float eps, bool fours) {
  __shared__ float scratch[kBlockSumWords];
  layer_norm_block(out, in, weight, bias, eps, fours, this_block(), scratch);
}

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    rms_norm_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight, float eps,
                    bool fours) {
  __shared__ float scratch[kBlockSumWords];
  rms_norm_block(out, in, weight, eps, fours, this_block(), scratch);
}

}  // namespace

cudaError_t launch_layer_norm(cudaStream_t stream, TensorView out, TensorView in, TensorView weight,
                              TensorView bias, float eps) {
  if (in.num_elements() == 0) return cudaSuccess;
  const bool fours = fits_fours(
      in.cols, {operand_of(out), operand_of(in), vector_operand(weight), vector_operand(bias)});
  return with_output(out, [&](auto typed_out) {
    layer_norm_kernel<<<row_blocks(in.rows), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), weight.ptr<const float>(), bias.ptr<const float>(),
        eps, fours);
    return cudaGetLastError();
  });
}

cudaError_t launch_rms_norm(cudaStream_t stream, TensorView out, TensorView in, TensorView weight,
                            float eps) {
  if (in.num_elements() == 0) return cudaSuccess;
  const bool fours = fits_fours(in.cols, {operand_of(out), operand_of(in), vector_operand(weight)});
  return with_output(out, [&](auto typed_out) {
    rms_norm_kernel<<<row_blocks(in.rows), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), weight.ptr<const float>(), eps, fours);
    return cudaGetLastError();
  });
}

}  // namespace vcap::tensor::cuda
