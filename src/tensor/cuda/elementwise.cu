#include "tensor/cuda/elementwise.h"

#include "tensor/cuda/kernel_util.cuh"

namespace vcap::tensor::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kQuickGeluAlpha = 1.702f;
constexpr float kInverseSqrt2 = 0.70710678118654752f;

__device__ inline float silu(float x) { return x / (1.0f + expf(-x)); }

template <Activation kKind>
__device__ inline float activate(float x) {
  if constexpr (kKind == Activation::kGeluErf) {
    return 0.5f * x * (1.0f + erff(x * kInverseSqrt2));
  } else if constexpr (kKind == Activation::kQuickGelu) {
    return x / (1.0f + expf(-kQuickGeluAlpha * x));
  } else {
    return silu(x);
  }
}

// Each element is read before it is written, by the same thread: out may alias in.
template <Activation kKind, class Out>
__global__ void activation_kernel(Matrix<Out> out, Matrix<const float> in) {
  for (int64_t r = blockIdx.x; r < in.rows; r += gridDim.x) {
    for (int64_t c = first_column(); c < in.cols; c += column_stride()) {
      out.at(r, c) = from_f32<Out>(activate<kKind>(in.at(r, c)));
    }
  }
}

// Likewise: out may alias gate or up.
template <class Out>
__global__ void silu_mul_kernel(Matrix<Out> out, Matrix<const float> gate, Matrix<const float> up) {
  for (int64_t r = blockIdx.x; r < out.rows; r += gridDim.x) {
    for (int64_t c = first_column(); c < out.cols; c += column_stride()) {
      const float g = gate.at(r, c);
      const float u = up.at(r, c);
      out.at(r, c) = from_f32<Out>(silu(g) * u);
    }
  }
}

__global__ void add_kernel(Matrix<float> inout, Matrix<const float> other) {
  for (int64_t r = blockIdx.x; r < inout.rows; r += gridDim.x) {
    for (int64_t c = first_column(); c < inout.cols; c += column_stride()) {
      inout.at(r, c) += other.at(r, c);
    }
  }
}

__global__ void add_bias_kernel(Matrix<float> inout, const float* bias) {
  for (int64_t r = blockIdx.x; r < inout.rows; r += gridDim.x) {
    for (int64_t c = first_column(); c < inout.cols; c += column_stride()) {
      inout.at(r, c) += bias[c];
    }
  }
}

template <Activation kKind>
cudaError_t activation_as(cudaStream_t stream, TensorView out, TensorView in) {
  return with_output(out, [&](auto typed_out) {
    activation_kernel<kKind><<<elementwise_grid(in.rows, in.cols, kThreads), kThreads, 0, stream>>>(
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
    silu_mul_kernel<<<elementwise_grid(out.rows, out.cols, kThreads), kThreads, 0, stream>>>(
        typed_out, matrix_of<const float>(gate), matrix_of<const float>(up));
    return cudaGetLastError();
  });
}

cudaError_t launch_add(cudaStream_t stream, TensorView inout, TensorView other) {
  if (inout.num_elements() == 0) return cudaSuccess;
  add_kernel<<<elementwise_grid(inout.rows, inout.cols, kThreads), kThreads, 0, stream>>>(
      matrix_of<float>(inout), matrix_of<const float>(other));
  return cudaGetLastError();
}

cudaError_t launch_add_bias(cudaStream_t stream, TensorView inout, TensorView bias) {
  if (inout.num_elements() == 0) return cudaSuccess;
  add_bias_kernel<<<elementwise_grid(inout.rows, inout.cols, kThreads), kThreads, 0, stream>>>(
      matrix_of<float>(inout), reinterpret_cast<const float*>(bias.data));
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
