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

// Calls body(width) with the group width as a compile-time constant (width::value): 4 when
// `fours` (fits_fours), else 1. The *_rows bodies below are written once for both widths.
template <class Body>
VCAP_SIMT_FN void with_group_width(bool fours, Body body) {
  if (fours) {
    body(std::integral_constant<int, 4>());
  } else {
    body(std::integral_constant<int, 1>());
  }
}

// Calls f(c, v) for this thread's columns of row r of `in`, kWidth at a time: v holds columns
// [c, c + kWidth). The block's threads take consecutive groups, so loads coalesce.
template <int kWidth, class F>
VCAP_SIMT_FN void for_my_columns(Matrix<const float> in, int64_t r, F f) {
  for (int64_t c = kWidth * simt::thread_rank(); c < in.cols; c += kWidth * kRowThreads) {
    float v[kWidth];
    load_group<kWidth>(&in.at(r, c), v);
    f(c, v);
  }
}

// Layer norm of each row (two passes: the mean, then the variance about it). Every thread
// touches the same columns in each pass, so out may alias in.
template <int kWidth, class Out>
VCAP_SIMT_FN void layer_norm_rows(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                  const float* bias, float eps, BlockPlace place, float* scratch) {
  const float n = static_cast<float>(in.cols);
  for (int64_t r = place.x; r < in.rows; r += place.x_count) {
    float sum = 0.0f;
    for_my_columns<kWidth>(in, r, [&](int64_t, const float(&v)[kWidth]) {
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) sum += v[i];
    });
    const float mean = block_sum(sum, scratch) / n;
    float squares = 0.0f;
    for_my_columns<kWidth>(in, r, [&](int64_t, const float(&v)[kWidth]) {
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) squares += (v[i] - mean) * (v[i] - mean);
    });
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for_my_columns<kWidth>(in, r, [&](int64_t c, const float(&v)[kWidth]) {
      float w[kWidth];
      float b[kWidth];
      float o[kWidth];
      load_group<kWidth>(weight + c, w);
      load_group<kWidth>(bias + c, b);
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) o[i] = (v[i] - mean) * rstd * w[i] + b[i];
      store_group<kWidth>(&out.at(r, c), o);
    });
  }
}

template <class Out>
VCAP_SIMT_FN void layer_norm_block(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                   const float* bias, float eps, bool fours, BlockPlace place,
                                   float* scratch) {
  with_group_width(fours, [&](auto width) {
    layer_norm_rows<decltype(width)::value>(out, in, weight, bias, eps, place, scratch);
  });
}

// RMS norm of each row; out may alias in, as above.
template <int kWidth, class Out>
VCAP_SIMT_FN void rms_norm_rows(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                float eps, BlockPlace place, float* scratch) {
  const float n = static_cast<float>(in.cols);
  for (int64_t r = place.x; r < in.rows; r += place.x_count) {
    float squares = 0.0f;
    for_my_columns<kWidth>(in, r, [&](int64_t, const float(&v)[kWidth]) {
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) squares += v[i] * v[i];
    });
    const float rstd = 1.0f / sqrtf(block_sum(squares, scratch) / n + eps);
    for_my_columns<kWidth>(in, r, [&](int64_t c, const float(&v)[kWidth]) {
      float w[kWidth];
      float o[kWidth];
      load_group<kWidth>(weight + c, w);
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) o[i] = (v[i] * rstd) * w[i];
      store_group<kWidth>(&out.at(r, c), o);
    });
  }
}

template <class Out>
VCAP_SIMT_FN void rms_norm_block(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                 float eps, bool fours, BlockPlace place, float* scratch) {
  with_group_width(fours, [&](auto width) {
    rms_norm_rows<decltype(width)::value>(out, in, weight, eps, place, scratch);
  });
}

// Norms with one warp per row, for rows of at most kWarpRowColumns columns taken four at a time
// (fits_fours): the row stays in the lane's registers between the passes and every sum is a
// warp shuffle, where a block per row (the *_rows bodies above) reads the row once per pass and
// meets at two block barriers per sum. Block place.x takes rows kRowWarps * place.x + warp, then
// every kRowWarps * place.x_count. out may alias in: a row is read whole before it is written.
constexpr int kRowWarps = kRowThreads / simt::kWarpSize;
constexpr int kWarpRowFours = 16;  // per lane
constexpr int64_t kWarpRowColumns = 4 * simt::kWarpSize * kWarpRowFours;

// Calls f(row, values, present) for each of this warp's rows: values[i] holds columns
// 4 (lane + 32 i) .. + 3, present[i] whether they are in the row (zeros otherwise).
template <class F>
VCAP_SIMT_FN void for_my_warp_rows(Matrix<const float> in, BlockPlace place, F f) {
  const int lane = simt::thread_rank() % simt::kWarpSize;
  const int warp = simt::thread_rank() / simt::kWarpSize;
  for (int64_t r = kRowWarps * place.x + warp; r < in.rows; r += kRowWarps * place.x_count) {
    float values[kWarpRowFours][4];
    bool present[kWarpRowFours];
    VCAP_UNROLL
    for (int i = 0; i < kWarpRowFours; ++i) {
      const int64_t c = 4 * (lane + simt::kWarpSize * static_cast<int64_t>(i));
      present[i] = c < in.cols;
      if (present[i]) {
        load_group<4>(&in.at(r, c), values[i]);
      } else {
        values[i][0] = values[i][1] = values[i][2] = values[i][3] = 0.0f;
      }
    }
    f(r, values, present);
  }
}

// Calls f(i, c) for each of this lane's fours that lie in the row (present[i]): for_my_warp_rows'
// values[i] are columns [c, c + 4).
template <class F>
VCAP_SIMT_FN void for_present_fours(const bool (&present)[kWarpRowFours], F f) {
  const int lane = simt::thread_rank() % simt::kWarpSize;
  VCAP_UNROLL
  for (int i = 0; i < kWarpRowFours; ++i) {
    if (present[i]) f(i, 4 * (lane + simt::kWarpSize * static_cast<int64_t>(i)));
  }
}

template <class Out>
VCAP_SIMT_FN void layer_norm_warp_rows(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                       const float* bias, float eps, BlockPlace place) {
  const float n = static_cast<float>(in.cols);
  for_my_warp_rows(
      in, place,
      [&](int64_t r, const float(&v)[kWarpRowFours][4], const bool(&present)[kWarpRowFours]) {
        float sum = 0.0f;
        VCAP_UNROLL
        for (int i = 0; i < kWarpRowFours; ++i) sum += (v[i][0] + v[i][1]) + (v[i][2] + v[i][3]);
        const float mean = simt::warp_sum(sum) / n;
        float squares = 0.0f;
        for_present_fours(present, [&](int i, int64_t) {
          VCAP_UNROLL
          for (int k = 0; k < 4; ++k) squares += (v[i][k] - mean) * (v[i][k] - mean);
        });
        const float rstd = 1.0f / sqrtf(simt::warp_sum(squares) / n + eps);
        for_present_fours(present, [&](int i, int64_t c) {
          float w[4];
          float b[4];
          float o[4];
          load_group<4>(weight + c, w);
          load_group<4>(bias + c, b);
          VCAP_UNROLL
          for (int k = 0; k < 4; ++k) o[k] = (v[i][k] - mean) * rstd * w[k] + b[k];
          store_group<4>(&out.at(r, c), o);
        });
      });
}

template <class Out>
VCAP_SIMT_FN void rms_norm_warp_rows(Matrix<Out> out, Matrix<const float> in, const float* weight,
                                     float eps, BlockPlace place) {
  const float n = static_cast<float>(in.cols);
  for_my_warp_rows(
      in, place,
      [&](int64_t r, const float(&v)[kWarpRowFours][4], const bool(&present)[kWarpRowFours]) {
        float squares = 0.0f;
        VCAP_UNROLL
        for (int i = 0; i < kWarpRowFours; ++i) {
          VCAP_UNROLL
          for (int k = 0; k < 4; ++k) squares += v[i][k] * v[i][k];
        }
        const float rstd = 1.0f / sqrtf(simt::warp_sum(squares) / n + eps);
        for_present_fours(present, [&](int i, int64_t c) {
          float w[4];
          float o[4];
          load_group<4>(weight + c, w);
          VCAP_UNROLL
          for (int k = 0; k < 4; ++k) o[k] = (v[i][k] * rstd) * w[k];
          store_group<4>(&out.at(r, c), o);
        });
      });
}

// Rotary in place: each thread turns kWidth pairs (x[d], x[d + half]) of one head at a time,
// pairs no other thread touches, so the update needs no synchronisation.
template <int kWidth>
VCAP_SIMT_FN void rotary_rows(Matrix<float> x, Matrix<const float> cos, Matrix<const float> sin,
                              int num_heads, int head_dim, BlockPlace place) {
  const int groups = head_dim / 2 / kWidth;  // per head
  for (int64_t r = place.x; r < x.rows; r += place.x_count) {
    for (int i = simt::thread_rank(); i < num_heads * groups; i += kRowThreads) {
      const int d = kWidth * (i % groups);
      float* first = &x.at(r, static_cast<int64_t>(i / groups) * head_dim + d);
      float* second = first + head_dim / 2;
      float a[kWidth];
      float b[kWidth];
      float c[kWidth];
      float s[kWidth];
      load_group<kWidth>(first, a);
      load_group<kWidth>(second, b);
      load_group<kWidth>(&cos.at(r, d), c);
      load_group<kWidth>(&sin.at(r, d), s);
      float turned_a[kWidth];
      float turned_b[kWidth];
      VCAP_UNROLL
      for (int k = 0; k < kWidth; ++k) {
        turned_a[k] = a[k] * c[k] - b[k] * s[k];
        turned_b[k] = b[k] * c[k] + a[k] * s[k];
      }
      store_group<kWidth>(first, turned_a);
      store_group<kWidth>(second, turned_b);
    }
  }
}

// fours: head_dim / 2 a multiple of 4 and x, cos and sin aligned for it (fits_fours).
VCAP_SIMT_FN void rotary_block(Matrix<float> x, Matrix<const float> cos, Matrix<const float> sin,
                               int num_heads, int head_dim, bool fours, BlockPlace place) {
  with_group_width(fours, [&](auto width) {
    rotary_rows<decltype(width)::value>(x, cos, sin, num_heads, head_dim, place);
  });
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

// out = op(a) element by element over an elementwise grid, columns kWidth at a time (the grid
// counts groups). Each element is read before it is written, by the same thread: out may alias a.
template <int kWidth, class Out, class A, class Op>
VCAP_SIMT_FN void map_rows(Matrix<Out> out, Matrix<const A> a, BlockPlace place, Op op) {
  for (int64_t r = place.x; r < out.rows; r += place.x_count) {
    for (int64_t g = place.first_column(); g < out.cols / kWidth; g += place.column_stride()) {
      float v[kWidth];
      load_group<kWidth>(&a.at(r, kWidth * g), v);
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) v[i] = op(v[i]);
      store_group<kWidth>(&out.at(r, kWidth * g), v);
    }
  }
}

// out = op(a, b), likewise; out may alias a or b.
template <int kWidth, class Out, class Op>
VCAP_SIMT_FN void map_rows(Matrix<Out> out, Matrix<const float> a, Matrix<const float> b,
                           BlockPlace place, Op op) {
  for (int64_t r = place.x; r < out.rows; r += place.x_count) {
    for (int64_t g = place.first_column(); g < out.cols / kWidth; g += place.column_stride()) {
      float va[kWidth];
      float vb[kWidth];
      load_group<kWidth>(&a.at(r, kWidth * g), va);
      load_group<kWidth>(&b.at(r, kWidth * g), vb);
      VCAP_UNROLL
      for (int i = 0; i < kWidth; ++i) va[i] = op(va[i], vb[i]);
      store_group<kWidth>(&out.at(r, kWidth * g), va);
    }
  }
}

// The maps with columns one or four at a time (fits_fours).
template <class Out, class A, class Op>
VCAP_SIMT_FN void map_block(Matrix<Out> out, Matrix<const A> a, bool fours, BlockPlace place,
                            Op op) {
  with_group_width(fours, [&](auto width) { map_rows<decltype(width)::value>(out, a, place, op); });
}

template <class Out, class Op>
VCAP_SIMT_FN void map_block(Matrix<Out> out, Matrix<const float> a, Matrix<const float> b,
                            bool fours, BlockPlace place, Op op) {
  with_group_width(fours,
                   [&](auto width) { map_rows<decltype(width)::value>(out, a, b, place, op); });
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

// dst = src as it is (the bits), over an elementwise grid, columns kWidth at a time.
template <int kWidth, class T>
VCAP_SIMT_FN void copy_rows_as_they_are(Matrix<T> dst, Matrix<const T> src, BlockPlace place) {
  for (int64_t r = place.x; r < dst.rows; r += place.x_count) {
    for (int64_t g = place.first_column(); g < dst.cols / kWidth; g += place.column_stride()) {
      copy_group<kWidth>(&dst.at(r, kWidth * g), &src.at(r, kWidth * g));
    }
  }
}

// dst = src converted, over an elementwise grid; the bits when the types are the same.
template <class Dst, class Src>
VCAP_SIMT_FN void copy_block(Matrix<Dst> dst, Matrix<const Src> src, bool fours, BlockPlace place) {
  if constexpr (std::is_same_v<Dst, Src>) {
    with_group_width(
        fours, [&](auto width) { copy_rows_as_they_are<decltype(width)::value>(dst, src, place); });
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
