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

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_warp_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight,
                           const float* bias, float eps) {
  layer_norm_warp_rows(out, in, weight, bias, eps, this_block());
}

template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    rms_norm_warp_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight, float eps) {
  rms_norm_warp_rows(out, in, weight, eps, this_block());
}

// Blocks of kRowWarps rows for the warp-per-row kernels.
unsigned warp_row_blocks(int64_t rows) { return row_blocks((rows + kRowWarps - 1) / kRowWarps); }

}  // namespace

cudaError_t launch_layer_norm(cudaStream_t stream, TensorView out, TensorView in, TensorView weight,
                              TensorView bias, float eps) {
  if (in.num_elements() == 0) return cudaSuccess;
  const bool fours = fits_fours(
      in.cols, {operand_of(out), operand_of(in), vector_operand(weight), vector_operand(bias)});
  return with_output(out, [&](auto typed_out) {
    if (fours && in.cols <= kWarpRowColumns) {
      layer_norm_warp_kernel<<<warp_row_blocks(in.rows), kRowThreads, 0, stream>>>(
          typed_out, matrix_of<const float>(in), weight.ptr<const float>(), bias.ptr<const float>(),
          eps);
      return cudaGetLastError();
    }
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
    if (fours && in.cols <= kWarpRowColumns) {
      rms_norm_warp_kernel<<<warp_row_blocks(in.rows), kRowThreads, 0, stream>>>(
          typed_out, matrix_of<const float>(in), weight.ptr<const float>(), eps);
      return cudaGetLastError();
    }
    rms_norm_kernel<<<row_blocks(in.rows), kRowThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), weight.ptr<const float>(), eps, fours);
    return cudaGetLastError();
  });
}

}  // namespace vcap::tensor::cuda
