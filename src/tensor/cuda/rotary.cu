#include "tensor/cuda/rotary.h"

#include "tensor/cuda/kernel_util.cuh"

namespace vcap::tensor::cuda {
namespace {

constexpr int kThreads = 256;

// One block per row; a thread per (head, d < half) pair rotates x[d] and x[d + half] together,
// so the in-place update needs no synchronisation.
__global__ void rotary_kernel(Matrix<float> x, Matrix<const float> cos, Matrix<const float> sin,
                              int num_heads, int head_dim) {
  const int half = head_dim / 2;
  const int pairs = num_heads * half;
  for (int64_t r = blockIdx.x; r < x.rows; r += gridDim.x) {
    for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
      const int head = i / half;
      const int d = i % half;
      float* first = &x.at(r, static_cast<int64_t>(head) * head_dim + d);
      float* second = first + half;
      const float a = *first;
      const float b = *second;
      const float c = cos.at(r, d);
      const float s = sin.at(r, d);
      *first = a * c - b * s;
      *second = b * c + a * s;
    }
  }
}

}  // namespace

cudaError_t launch_rotary(cudaStream_t stream, TensorView x, TensorView cos, TensorView sin,
                          int num_heads, int head_dim) {
  if (x.num_elements() == 0) return cudaSuccess;
  rotary_kernel<<<row_blocks(x.rows), kThreads, 0, stream>>>(
      matrix_of<float>(x), matrix_of<const float>(cos), matrix_of<const float>(sin), num_heads,
      head_dim);
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
