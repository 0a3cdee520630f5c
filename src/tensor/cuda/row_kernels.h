// The bodies of the CUDA backend's norm, rotary, activation, add and data-movement kernels,
// written against simt.h (kernel_matrix.h) so that they compile with nvcc (norm.cu, rotary.cu,
// elementwise.cu, transfer.cu wrap each in a __global__ of kRowThreads threads) and with the
// host compiler for the tests' SIMT emulator, as the attention's and the token choice's do.
//
// Each body is one block's share of its launch, placed by a BlockPlace. Row kernels give each
// block whole rows (x walks the rows); elementwise kernels also split rows into chunks of
// columns (y), so that a decode step's few long rows spread over the multiprocessors.
#ifndef VCAP_TENSOR_CUDA_ROW_KERNELS_H_
#define VCAP_TENSOR_CUDA_ROW_KERNELS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tensor/backend.h"
#include "tensor/cuda/kernel_matrix.h"

namespace vcap::tensor::cuda {

// Layer norm of each row (two passes: the mean, then the variance about it). Every thread
// touches the same columns in each pass, so out may alias in.
template <class Out>
VCAP_SIMT_FN void layer_norm_block(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                   const float* bias, float eps, BlockPlace place, float* scratch) {
  const float n = static_cast<float>(in.cols);
  const int thread = simt::thread_rank();
  for (int64_t r = place.x; r < in.rows; r += place.x_count) {
    float sum = 0.0f;
    for (int64_t c = thread; c < in.cols; c += kRowThreads) sum += in.at(r, c);
    const float mean = block_sum(sum, scratch) / n;
    float squares = 0.0f;
    for (int64_t c = thread; c < in.cols; c += kRowThreads) {
      const float d = in.at(r, c) - mean;
      squares += d * d;
    }
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for (int64_t c = thread; c < in.cols; c += kRowThreads) {
      out.at(r, c) = from_f32<Out>((in.at(r, c) - mean) * rstd * weight[c] + bias[c]);
    }
  }
}

// RMS norm of each row; out may alias in, as above.
template <class Out>
VCAP_SIMT_FN void rms_norm_block(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                 float eps, BlockPlace place, float* scratch) {
  const float n = static_cast<float>(in.cols);
  const int thread = simt::thread_rank();
  for (int64_t r = place.x; r < in.rows; r += place.x_count) {
    float squares = 0.0f;
    for (int64_t c = thread; c < in.cols; c += kRowThreads) {
      const float x = in.at(r, c);
      squares += x * x;
    }
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for (int64_t c = thread; c < in.cols; c += kRowThreads) {
      out.at(r, c) = from_f32<Out>((in.at(r, c) * rstd) * weight[c]);
    }
  }
}

// Rotary in place: a thread per (head, d < half) pair turns x[d] and x[d + half] together, so
// the update needs no synchronisation.
VCAP_SIMT_FN void rotary_block(Matrix<float> x, Matrix<const float> cos, Matrix<const float> sin,
                               int num_heads, int head_dim, BlockPlace place) {
  const int half = head_dim / 2;
  const int pairs = num_heads * half;
  for (int64_t r = place.x; r < x.rows; r += place.x_count) {
    for (int i = simt::thread_rank(); i < pairs; i += kRowThreads) {
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

constexpr float kQuickGeluAlpha = 1.702f;
constexpr float kInverseSqrt2 = 0.70710678118654752f;

VCAP_SIMT_FN float silu(float x) { return x / (1.0f + expf(-x)); }

template <Activation kKind>
VCAP_SIMT_FN float activate(float x) {
  if constexpr (kKind == Activation::kGeluErf) {
    return 0.5f * x * (1.0f + erff(x * kInverseSqrt2));
  } else if constexpr (kKind == Activation::kQuickGelu) {
    return x / (1.0f + expf(-kQuickGeluAlpha * x));
  } else {
    return silu(x);
  }
}

// out = op(a) element by element over an elementwise grid: columns one at a time, or four at a
// time with one access per operand when `fours` (fits_fours; the grid then counts fours). Each
// element is read before it is written, by the same thread: out may alias a.
template <class Out, class A, class Op>
VCAP_SIMT_FN void map_block(Matrix<Out> out, Matrix<const A> a, bool fours, BlockPlace place,
                            Op op) {
  for (int64_t r = place.x; r < out.rows; r += place.x_count) {
    if (fours) {
      for (int64_t q = place.first_column(); q < out.cols / 4; q += place.column_stride()) {
        float v[4];
        load4(&a.at(r, 4 * q), v);
        VCAP_UNROLL
        for (int i = 0; i < 4; ++i) v[i] = op(v[i]);
        store4(&out.at(r, 4 * q), v);
      }
    } else {
      for (int64_t c = place.first_column(); c < out.cols; c += place.column_stride()) {
        out.at(r, c) = from_f32<Out>(op(to_f32(a.at(r, c))));
      }
    }
  }
}

// out = op(a, b), likewise; out may alias a or b.
template <class Out, class Op>
VCAP_SIMT_FN void map_block(Matrix<Out> out, Matrix<const float> a, Matrix<const float> b,
                            bool fours, BlockPlace place, Op op) {
  for (int64_t r = place.x; r < out.rows; r += place.x_count) {
    if (fours) {
      for (int64_t q = place.first_column(); q < out.cols / 4; q += place.column_stride()) {
        float va[4];
        float vb[4];
        load4(&a.at(r, 4 * q), va);
        load4(&b.at(r, 4 * q), vb);
        VCAP_UNROLL
        for (int i = 0; i < 4; ++i) va[i] = op(va[i], vb[i]);
        store4(&out.at(r, 4 * q), va);
      }
    } else {
      for (int64_t c = place.first_column(); c < out.cols; c += place.column_stride()) {
        out.at(r, c) = from_f32<Out>(op(a.at(r, c), b.at(r, c)));
      }
    }
  }
}

template <Activation kKind, class Out>
VCAP_SIMT_FN void activation_block(Matrix<Out> out, Matrix<const float> in, bool fours,
                                   BlockPlace place) {
  map_block(out, in, fours, place, [](float x) { return activate<kKind>(x); });
}

template <class Out>
VCAP_SIMT_FN void silu_mul_block(Matrix<Out> out, Matrix<const float> gate, Matrix<const float> up,
                                 bool fours, BlockPlace place) {
  map_block(out, gate, up, fours, place, [](float g, float u) { return silu(g) * u; });
}

// inout += other; a bias is an `other` of row stride 0.
VCAP_SIMT_FN void add_block(Matrix<float> inout, Matrix<const float> other, bool fours,
                            BlockPlace place) {
  const Matrix<const float> in{inout.data, inout.rows, inout.cols, inout.stride};
  map_block(inout, in, other, fours, place, [](float x, float y) { return x + y; });
}

// dst = src converted, over an elementwise grid; the bits when the types are the same.
template <class Dst, class Src>
VCAP_SIMT_FN void copy_block(Matrix<Dst> dst, Matrix<const Src> src, bool fours, BlockPlace place) {
  if constexpr (std::is_same_v<Dst, Src>) {
    for (int64_t r = place.x; r < dst.rows; r += place.x_count) {
      if (fours) {
        for (int64_t q = place.first_column(); q < dst.cols / 4; q += place.column_stride()) {
          copy4(&dst.at(r, 4 * q), &src.at(r, 4 * q));
        }
      } else {
        for (int64_t c = place.first_column(); c < dst.cols; c += place.column_stride()) {
          dst.at(r, c) = src.at(r, c);
        }
      }
    }
  } else {
    map_block(dst, src, fours, place, [](float x) { return x; });
  }
}

// One copy of a batch (launch_copy_batch): dst and src of the same shape, as raw rows.
struct CopyDesc {
  std::byte* dst;
  const std::byte* src;
  int64_t dst_stride;
  int64_t src_stride;
  int64_t rows;
  int64_t cols;
};

// One block's rows of `copy` (the batch's blocks split rows only: x walks them).
template <class Dst, class Src>
VCAP_SIMT_FN void copy_desc_block(const CopyDesc& copy, BlockPlace place) {
  const Matrix<Dst> dst{reinterpret_cast<Dst*>(copy.dst), copy.rows, copy.cols, copy.dst_stride};
  const Matrix<const Src> src{reinterpret_cast<const Src*>(copy.src), copy.rows, copy.cols,
                              copy.src_stride};
  for (int64_t r = place.x; r < dst.rows; r += place.x_count) {
    for (int64_t c = simt::thread_rank(); c < dst.cols; c += kRowThreads) {
      dst.at(r, c) = convert<Dst>(src.at(r, c));
    }
  }
}

// dst row dst_rows[i] = src row i.
VCAP_SIMT_FN void copy_rows_block(Matrix<float> dst, Matrix<const float> src,
                                  const int64_t* dst_rows, BlockPlace place) {
  for (int64_t i = place.x; i < src.rows; i += place.x_count) {
    const int64_t row = dst_rows[i];
    for (int64_t c = simt::thread_rank(); c < src.cols; c += kRowThreads) {
      dst.at(row, c) = src.at(i, c);
    }
  }
}

// out row i = row ids[i] of the contiguous table [*, out.cols], widened to f32.
template <class T>
VCAP_SIMT_FN void gather_rows_block(Matrix<float> out, const T* table, const int32_t* ids,
                                    BlockPlace place) {
  for (int64_t i = place.x; i < out.rows; i += place.x_count) {
    const T* row = table + static_cast<int64_t>(ids[i]) * out.cols;
    for (int64_t c = simt::thread_rank(); c < out.cols; c += kRowThreads) {
      out.at(i, c) = to_f32(row[c]);
    }
  }
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ROW_KERNELS_H_
