#include "tensor/cuda/norm.h"

#include "tensor/cuda/kernel_util.cuh"

namespace vcap::tensor::cuda {
namespace {

constexpr int kThreads = 256;

// Every thread touches the same columns in each pass, so out may alias in.
template <class Out>
__global__ void layer_norm_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                  const float* bias, float eps) {
  __shared__ float scratch[kThreads / kWarpSize];
  const float n = static_cast<float>(in.cols);
  for (int64_t r = blockIdx.x; r < in.rows; r += gridDim.x) {
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < in.cols; c += blockDim.x) sum += in.at(r, c);
    const float mean = block_sum(sum, scratch) / n;
    float squares = 0.0f;
    for (int64_t c = threadIdx.x; c < in.cols; c += blockDim.x) {
      const float d = in.at(r, c) - mean;
      squares += d * d;
    }
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for (int64_t c = threadIdx.x; c < in.cols; c += blockDim.x) {
      out.at(r, c) = from_f32<Out>((in.at(r, c) - mean) * rstd * weight[c] + bias[c]);
    }
  }
}

template <class Out>
__global__ void rms_norm_kernel(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                float eps) {
  __shared__ float scratch[kThreads / kWarpSize];
  const float n = static_cast<float>(in.cols);
  for (int64_t r = blockIdx.x; r < in.rows; r += gridDim.x) {
    float squares = 0.0f;
    for (int64_t c = threadIdx.x; c < in.cols; c += blockDim.x) {
      const float x = in.at(r, c);
      squares += x * x;
    }
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for (int64_t c = threadIdx.x; c < in.cols; c += blockDim.x) {
      out.at(r, c) = from_f32<Out>((in.at(r, c) * rstd) * weight[c]);
    }
  }
}

}  // namespace

cudaError_t launch_layer_norm(cudaStream_t stream, TensorView out, TensorView in,
                              TensorView weight, TensorView bias, float eps) {
  if (in.num_elements() == 0) return cudaSuccess;
  return with_output(out, [&](auto typed_out) {
    layer_norm_kernel<<<row_blocks(in.rows), kThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), weight.ptr<const float>(), bias.ptr<const float>(),
        eps);
    return cudaGetLastError();
  });
}

cudaError_t launch_rms_norm(cudaStream_t stream, TensorView out, TensorView in, TensorView weight,
                            float eps) {
  if (in.num_elements() == 0) return cudaSuccess;
  return with_output(out, [&](auto typed_out) {
    rms_norm_kernel<<<row_blocks(in.rows), kThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(in), weight.ptr<const float>(), eps);
    return cudaGetLastError();
  });
}

}  // namespace vcap::tensor::cuda
