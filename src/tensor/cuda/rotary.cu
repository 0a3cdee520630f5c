#include "tensor/cuda/rotary.h"

#include "tensor/cuda/kernel_util.cuh"
#include "tensor/cuda/row_kernels.h"

namespace vcap::tensor::cuda {
namespace {

__global__ void __launch_bounds__(kRowThreads)
    rotary_kernel(Matrix<float> x, Matrix<const float> cos, Matrix<const float> sin, int num_heads,
                  int head_dim, bool fours) {
  rotary_block(x, cos, sin, num_heads, head_dim, fours, this_block());
}

}  // namespace

cudaError_t launch_rotary(cudaStream_t stream, TensorView x, TensorView cos, TensorView sin,
                          int num_heads, int head_dim) {
  if (x.num_elements() == 0) return cudaSuccess;
  // Four pairs at a time: half a head's columns in fours, every row of x, cos and sin aligned.
  const bool fours = fits_fours(head_dim / 2, {operand_of(x), operand_of(cos), operand_of(sin)});
  rotary_kernel<<<row_blocks(x.rows), kRowThreads, 0, stream>>>(
      matrix_of<float>(x), matrix_of<const float>(cos), matrix_of<const float>(sin), num_heads,
      head_dim, fours);
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
