#include "media/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace vcap::media {
namespace {

constexpr int64_t kRows = 8;  // rows per horizontal block (the SIMD lanes)

// Keys cubic with a = -0.5, written with torch's operand types: the first branch is evaluated
// in double (a is a double literal), the second in float and scaled by a in double. The
// multiply-adds are fused, as the compiler of the reference build contracted them: that is what
// reproduces its weights (and so its pixels) to the last bit in the golden data.
float cubic_filter(float x) {
  constexpr double kA = -0.5;
  if (x < 0.0f) x = -x;
  if (x < 1.0f) {
    const double xd = x;
    return static_cast<float>(std::fma(std::fma(kA + 2.0, xd, -(kA + 3.0)) * xd, xd, 1.0));
  }
  if (x < 2.0f) return static_cast<float>(std::fma(std::fma(x - 5, x, 8.0f), x, -4.0f) * kA);
  return 0.0f;
}

// Clamp to [0, 255] then round half to even (adding 1.5 * 2^23 leaves only the integer part
// under the default rounding mode; this form vectorises, std::nearbyint does not).
inline uint8_t to_u8(float v) {
  constexpr float kMagic = 12582912.0f;
  v = std::min(std::max(v, 0.0f), 255.0f);
  return static_cast<uint8_t>(static_cast<int32_t>((v + kMagic) - kMagic));
}

}  // namespace

AxisTaps bicubic_axis_taps(int64_t in_size, int64_t out_size) {
  VCAP_CHECK(in_size > 0 && out_size > 0, "resize sizes must be positive");
  AxisTaps taps;
  taps.in_size = in_size;
  taps.out_size = out_size;
  // torch _compute_indices_weights_aa with scalar_t = float (interp_size 4 for bicubic).
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float support = scale >= 1.0f ? static_cast<float>(4 * 0.5 * scale) : 2.0f;
  const float invscale = scale >= 1.0f ? static_cast<float>(1.0 / scale) : 1.0f;
  taps.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  taps.first.resize(static_cast<size_t>(out_size));
  taps.count.resize(static_cast<size_t>(out_size));
  taps.weights.assign(static_cast<size_t>(out_size * taps.max_taps), 0.0f);
  for (int64_t i = 0; i < out_size; ++i) {
    const float center = static_cast<float>(scale * (static_cast<double>(i) + 0.5));
    const int64_t xmin = std::max(static_cast<int64_t>((center - support) + 0.5), int64_t{0});
    const int64_t xsize =
        std::min(static_cast<int64_t>((center + support) + 0.5), in_size) - xmin;
    float* w = &taps.weights[static_cast<size_t>(i * taps.max_taps)];
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      const float offset = static_cast<float>(j + xmin) - center;
      w[j] = cubic_filter(static_cast<float>((offset + 0.5) * invscale));
      total += w[j];
    }
    if (total != 0.0f) {
      for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
    }
    taps.first[static_cast<size_t>(i)] = xmin;
    taps.count[static_cast<size_t>(i)] = xsize;
  }
  return taps;
}

namespace {

// The sums, written once. Every output value is a sequential fused multiply-add over its taps
// (out = t0 * w0, then out = fma(t_j, w_j, out)), as the reference's compiled loop computes it.
// std::fma is exact on every CPU, so both instantiations below give the same bits; the one
// compiled for AVX2+FMA is only faster.
struct HorizontalArgs {
  const float* block;  // [in_w, 3, kRows]
  const AxisTaps* taps;
  float* out;          // intermediate_ + y0 * out_w (channel planes `plane` floats apart)
  size_t plane;
  int64_t out_w;
  int64_t rows;        // valid rows in the block
};

[[gnu::always_inline]] inline void horizontal_kernel(const HorizontalArgs& a) {
  const AxisTaps& taps = *a.taps;
  const float* __restrict block = a.block;
  float* __restrict dst = a.out;
  for (int64_t x = 0; x < a.out_w; ++x) {
    const int64_t first = taps.first[static_cast<size_t>(x)];
    const int64_t count = taps.count[static_cast<size_t>(x)];
    const float* __restrict w = &taps.weights[static_cast<size_t>(x * taps.max_taps)];
    for (int64_t c = 0; c < 3; ++c) {
      const float* in = block + (first * 3 + c) * kRows;
      float acc[kRows];
      for (int64_t r = 0; r < kRows; ++r) acc[r] = in[r] * w[0];
      for (int64_t j = 1; j < count; ++j) {
        const float* tap = in + j * 3 * kRows;
        for (int64_t r = 0; r < kRows; ++r) acc[r] = std::fma(tap[r], w[j], acc[r]);
      }
      float* out = dst + c * a.plane + x;
      for (int64_t r = 0; r < a.rows; ++r) out[r * a.out_w] = acc[r];
    }
  }
}

// One output row of one channel: rows[j] are the taps' input rows, weights w.
[[gnu::always_inline]] inline void vertical_kernel(const float* __restrict plane, int64_t first,
                                                   int64_t count, const float* __restrict w,
                                                   int64_t width, float* __restrict acc,
                                                   uint8_t* __restrict out) {
  const float* row0 = plane + first * width;
  for (int64_t x = 0; x < width; ++x) acc[x] = row0[x] * w[0];
  for (int64_t j = 1; j < count; ++j) {
    const float* row = plane + (first + j) * width;
    const float wj = w[j];
    for (int64_t x = 0; x < width; ++x) acc[x] = std::fma(row[x], wj, acc[x]);
  }
  for (int64_t x = 0; x < width; ++x) out[x] = to_u8(acc[x]);
}

void horizontal_plain(const HorizontalArgs& a) { horizontal_kernel(a); }
[[gnu::target("avx2,fma")]] void horizontal_fma(const HorizontalArgs& a) { horizontal_kernel(a); }

void vertical_plain(const float* plane, int64_t first, int64_t count, const float* w,
                    int64_t width, float* acc, uint8_t* out) {
  vertical_kernel(plane, first, count, w, width, acc, out);
}
[[gnu::target("avx2,fma")]] void vertical_fma(const float* plane, int64_t first, int64_t count,
                                              const float* w, int64_t width, float* acc,
                                              uint8_t* out) {
  vertical_kernel(plane, first, count, w, width, acc, out);
}

bool cpu_has_fma() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace

BicubicResizer::BicubicResizer(FrameSize in, FrameSize out)
    : in_(in),
      out_(out),
      horizontal_(bicubic_axis_taps(in.width, out.width)),
      vertical_(bicubic_axis_taps(in.height, out.height)),
      use_fma_(cpu_has_fma()),
      block_(static_cast<size_t>(in.width * 3 * kRows)),
      intermediate_(static_cast<size_t>(3 * in.height * out.width)) {}

void BicubicResizer::resize_packed_to_planar(const uint8_t* src, ptrdiff_t src_stride,
                                             uint8_t* dst) {
  for (int64_t y0 = 0; y0 < in_.height; y0 += kRows) {
    horizontal_block(src, src_stride, y0, std::min(kRows, in_.height - y0));
  }
  vertical_and_store(dst);
}

// Horizontal pass (or a plain float copy when the width does not change) for rows
// [y0, y0 + rows) into intermediate_. The rows are transposed into block_ first so that one
// output column of 8 rows is a contiguous 8-float vector per tap.
void BicubicResizer::horizontal_block(const uint8_t* src, ptrdiff_t src_stride, int64_t y0,
                                      int64_t rows) {
  const int64_t in_w = in_.width;
  const int64_t out_w = out_.width;
  const size_t plane = static_cast<size_t>(in_.height * out_w);
  if (in_w == out_w) {
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = src + (y0 + r) * src_stride;
      for (int64_t c = 0; c < 3; ++c) {
        float* out = &intermediate_[c * plane + static_cast<size_t>((y0 + r) * out_w)];
        for (int64_t x = 0; x < in_w; ++x) out[x] = row[x * 3 + c];
      }
    }
    return;
  }
  // Transpose 8 rows into block_ (a missing row of the last block reads row 0 again: its lanes
  // are computed and dropped).
  const uint8_t* row_ptr[kRows];
  for (int64_t r = 0; r < kRows; ++r) row_ptr[r] = src + (y0 + (r < rows ? r : 0)) * src_stride;
  float* __restrict block = block_.data();
  for (int64_t i = 0; i < in_w * 3; ++i) {
    float* lanes = block + i * kRows;
    for (int64_t r = 0; r < kRows; ++r) lanes[r] = row_ptr[r][i];
  }
  const HorizontalArgs args{block_.data(), &horizontal_, &intermediate_[static_cast<size_t>(y0 * out_w)],
                            plane, out_w, rows};
  if (use_fma_) {
    horizontal_fma(args);
  } else {
    horizontal_plain(args);
  }
}

// Vertical pass (or none when the height does not change), clamp, round and store.
void BicubicResizer::vertical_and_store(uint8_t* dst) {
  const int64_t out_w = out_.width;
  const size_t in_plane = static_cast<size_t>(in_.height * out_w);
  const size_t out_plane = static_cast<size_t>(out_.height * out_w);
  row_acc_.resize(static_cast<size_t>(out_w));
  for (int64_t c = 0; c < 3; ++c) {
    const float* plane = &intermediate_[c * in_plane];
    for (int64_t y = 0; y < out_.height; ++y) {
      uint8_t* out = dst + c * out_plane + static_cast<size_t>(y * out_w);
      if (in_.height == out_.height) {
        const float* row = plane + y * out_w;
        for (int64_t x = 0; x < out_w; ++x) out[x] = to_u8(row[x]);
        continue;
      }
      const int64_t first = vertical_.first[static_cast<size_t>(y)];
      const int64_t count = vertical_.count[static_cast<size_t>(y)];
      const float* w = &vertical_.weights[static_cast<size_t>(y * vertical_.max_taps)];
      if (use_fma_) {
        vertical_fma(plane, first, count, w, out_w, row_acc_.data(), out);
      } else {
        vertical_plain(plane, first, count, w, out_w, row_acc_.data(), out);
      }
    }
  }
}

void rotate_image(const uint8_t* src, int64_t height, int64_t width, int64_t pixel_bytes,
                  int degrees_cw, uint8_t* dst) {
  VCAP_CHECK(degrees_cw == 0 || degrees_cw == 90 || degrees_cw == 180 || degrees_cw == 270,
             "rotation must be a multiple of 90 degrees");
  const size_t px = static_cast<size_t>(pixel_bytes);
  if (degrees_cw == 0) {
    std::memcpy(dst, src, static_cast<size_t>(height * width) * px);
    return;
  }
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      int64_t ty = 0;  // target row and column
      int64_t tx = 0;
      int64_t target_width = width;
      if (degrees_cw == 90) {  // top row becomes the right column
        ty = x, tx = height - 1 - y, target_width = height;
      } else if (degrees_cw == 180) {
        ty = height - 1 - y, tx = width - 1 - x;
      } else {  // 270: top row becomes the left column, read bottom-up
        ty = width - 1 - x, tx = y, target_width = height;
      }
      std::memcpy(dst + static_cast<size_t>(ty * target_width + tx) * px,
                  src + static_cast<size_t>(y * width + x) * px, px);
    }
  }
}

}  // namespace vcap::media
