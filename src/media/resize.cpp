#include "media/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/cpu_features.h"
#include "media/resize_avx512.h"

namespace vcap::media {
namespace {

constexpr int64_t kRows = 8;  // rows per horizontal block of the portable loops (their lanes)

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
    const int64_t xsize = std::min(static_cast<int64_t>((center + support) + 0.5), in_size) - xmin;
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
  float* out;  // intermediate_ + y0 * out_w (channel planes `plane` floats apart)
  size_t plane;
  int64_t out_w;
  int64_t rows;  // valid rows in the block
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

// One output row of one channel: rows[j] is the input row of tap j, weighted by w[j]. Columns
// are summed kChunk at a time so that the sums stay in registers across the taps.
template <int64_t kChunk>
[[gnu::always_inline]] inline void vertical_chunk(const float* const* rows, int64_t count,
                                                  const float* __restrict w, int64_t x,
                                                  uint8_t* __restrict out) {
  float acc[kChunk];
  for (int64_t k = 0; k < kChunk; ++k) acc[k] = rows[0][x + k] * w[0];
  for (int64_t j = 1; j < count; ++j) {
    const float* __restrict row = rows[j] + x;
    for (int64_t k = 0; k < kChunk; ++k) acc[k] = std::fma(row[k], w[j], acc[k]);
  }
  for (int64_t k = 0; k < kChunk; ++k) out[x + k] = to_u8(acc[k]);
}

[[gnu::always_inline]] inline void vertical_kernel(const float* const* rows, int64_t count,
                                                   const float* w, int64_t width, uint8_t* out) {
  constexpr int64_t kChunk = 32;
  int64_t x = 0;
  for (; x + kChunk <= width; x += kChunk) vertical_chunk<kChunk>(rows, count, w, x, out);
  for (; x < width; ++x) vertical_chunk<1>(rows, count, w, x, out);
}

void horizontal_plain(const HorizontalArgs& a) { horizontal_kernel(a); }
[[gnu::target("avx2,fma")]] void horizontal_fma(const HorizontalArgs& a) { horizontal_kernel(a); }

void vertical_plain(const float* const* rows, int64_t count, const float* w, int64_t width,
                    uint8_t* out) {
  vertical_kernel(rows, count, w, width, out);
}
[[gnu::target("avx2,fma")]] void vertical_fma(const float* const* rows, int64_t count,
                                              const float* w, int64_t width, uint8_t* out) {
  vertical_kernel(rows, count, w, width, out);
}

ResizeKernel resolve(ResizeKernel kernel) {
  if (kernel != ResizeKernel::kBest) return kernel;
  if (detail::cpu_has_avx512()) return ResizeKernel::kAvx512;
  return cpu_has_avx2_fma() ? ResizeKernel::kAvx2Fma : ResizeKernel::kPortable;
}

}  // namespace

bool resize_kernel_supported(ResizeKernel kernel) {
  switch (kernel) {
    case ResizeKernel::kBest:
    case ResizeKernel::kPortable:
      return true;
    case ResizeKernel::kAvx2Fma:
      return cpu_has_avx2_fma();
    case ResizeKernel::kAvx512:
      return detail::cpu_has_avx512();
  }
  return false;
}

BicubicResizer::BicubicResizer(FrameSize in, FrameSize out, ResizeKernel kernel)
    : in_(in),
      out_(out),
      horizontal_(bicubic_axis_taps(in.width, out.width)),
      vertical_(bicubic_axis_taps(in.height, out.height)),
      kernel_(resolve(kernel)),
      block_rows_(kernel_ == ResizeKernel::kAvx512 ? detail::kAvx512Lanes : kRows) {
  VCAP_CHECK(resize_kernel_supported(kernel_), "resize kernel not supported by this CPU");
  constexpr size_t kAlignFloats = 16;  // 64 bytes: the AVX-512 kernel's aligned loads
  block_storage_.resize(static_cast<size_t>(in.width * 3 * block_rows_) + kAlignFloats);
  const auto address = reinterpret_cast<uintptr_t>(block_storage_.data());
  block_offset_ = ((64 - address % 64) % 64) / sizeof(float);
  // Ring size. Before the block of rows [y0, y0 + B) is written, the first output row not yet
  // summed ends past y0 (else it would have been summed), so the rows still needed start after
  // y0 - span, where span bounds end[y] - min(first[y'] for y' >= y). The block overwrites the
  // rows y0 - R .. y0 - R + B - 1, all older than that when R >= B + span - 1. R is a multiple
  // of B so that a block (y0 a multiple of B) never wraps.
  int64_t span = 1;  // same height: output row y reads input row y only
  if (in.height != out.height) {
    int64_t min_first = in.height;
    for (int64_t y = out.height - 1; y >= 0; --y) {
      const size_t at = static_cast<size_t>(y);
      min_first = std::min(min_first, vertical_.first[at]);
      span = std::max(span, vertical_.first[at] + vertical_.count[at] - min_first);
    }
  }
  const int64_t blocks = (in.height + block_rows_ - 1) / block_rows_;
  ring_rows_ = std::min((block_rows_ + span + block_rows_ - 1) / block_rows_, blocks) * block_rows_;
  intermediate_.resize(static_cast<size_t>(3 * ring_rows_ * out.width));
  tap_rows_.resize(static_cast<size_t>(std::max<int64_t>(vertical_.max_taps, 1)));
}

// The vertical pass of an output row needs the horizontal pass of its input rows only, so each
// output row is summed as soon as the block holding its last tap is done: the rows it reads
// were written moments before and are still in cache, and the intermediate rows form a ring of
// only as many rows as the taps span.
void BicubicResizer::resize_packed_to_planar(const uint8_t* src, ptrdiff_t src_stride,
                                             uint8_t* dst) {
  int64_t next_out_row = 0;
  for (int64_t y0 = 0; y0 < in_.height; y0 += block_rows_) {
    const int64_t rows = std::min(block_rows_, in_.height - y0);
    horizontal_block(src, src_stride, y0, rows);
    next_out_row = vertical_rows(next_out_row, y0 + rows, dst);
  }
  VCAP_CHECK(next_out_row == out_.height, "resize: output rows left unsummed");
}

float* BicubicResizer::intermediate_row(int64_t c, int64_t y) {
  return &intermediate_[static_cast<size_t>((c * ring_rows_ + y % ring_rows_) * out_.width)];
}

// Horizontal pass (or a plain float copy when the width does not change) for rows
// [y0, y0 + rows) into the intermediate ring. The rows are transposed into the block first so
// that one output column of the block's rows is one contiguous vector per tap.
void BicubicResizer::horizontal_block(const uint8_t* src, ptrdiff_t src_stride, int64_t y0,
                                      int64_t rows) {
  const int64_t in_w = in_.width;
  const size_t plane = static_cast<size_t>(ring_rows_ * out_.width);
  if (in_w == out_.width) {
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = src + (y0 + r) * src_stride;
      for (int64_t c = 0; c < 3; ++c) {
        float* out = intermediate_row(c, y0 + r);
        for (int64_t x = 0; x < in_w; ++x) out[x] = row[x * 3 + c];
      }
    }
    return;
  }
  // A missing row of the last block reads row y0 again: its lanes are computed and dropped.
  const uint8_t* row_ptr[detail::kAvx512Lanes];
  for (int64_t r = 0; r < block_rows_; ++r) {
    row_ptr[r] = src + (y0 + (r < rows ? r : 0)) * src_stride;
  }
  float* __restrict block = block_storage_.data() + block_offset_;
  float* out = intermediate_row(0, y0);  // the block's rows are contiguous in the ring
  if (kernel_ == ResizeKernel::kAvx512) {
    detail::transpose_rows_avx512(row_ptr, in_w * 3, block);
    detail::horizontal_avx512(block, horizontal_, rows, out, plane);
    return;
  }
  for (int64_t i = 0; i < in_w * 3; ++i) {
    float* lanes = block + i * kRows;
    for (int64_t r = 0; r < kRows; ++r) lanes[r] = row_ptr[r][i];
  }
  const HorizontalArgs args{block, &horizontal_, out, plane, out_.width, rows};
  if (kernel_ == ResizeKernel::kAvx2Fma) {
    horizontal_fma(args);
  } else {
    horizontal_plain(args);
  }
}

// Sums output rows y, y+1, ... (all channels) while their taps lie within the first
// `rows_ready` input rows; returns the first row not summed.
int64_t BicubicResizer::vertical_rows(int64_t y, int64_t rows_ready, uint8_t* dst) {
  const bool same_height = in_.height == out_.height;
  for (; y < out_.height; ++y) {
    const size_t at = static_cast<size_t>(y);
    const int64_t end = same_height ? y + 1 : vertical_.first[at] + vertical_.count[at];
    if (end > rows_ready) break;
    for (int64_t c = 0; c < 3; ++c) vertical_row(c, y, dst);
  }
  return y;
}

// Vertical pass of one output row of channel c (or none when the height does not change: one
// tap of weight 1 is the value itself), clamp, round and store.
void BicubicResizer::vertical_row(int64_t c, int64_t y, uint8_t* dst) {
  constexpr float kOne = 1.0f;
  const int64_t out_w = out_.width;
  uint8_t* out = dst + static_cast<size_t>((c * out_.height + y) * out_w);
  const bool same_height = in_.height == out_.height;
  const size_t at = static_cast<size_t>(y);
  const int64_t first = same_height ? y : vertical_.first[at];
  const int64_t count = same_height ? 1 : vertical_.count[at];
  const float* w = same_height ? &kOne : &vertical_.weights[at * vertical_.max_taps];
  for (int64_t j = 0; j < count; ++j)
    tap_rows_[static_cast<size_t>(j)] = intermediate_row(c, first + j);
  const float* const* rows = tap_rows_.data();
  switch (kernel_) {
    case ResizeKernel::kAvx512:
      detail::vertical_avx512(rows, count, w, out_w, out);
      break;
    case ResizeKernel::kAvx2Fma:
      vertical_fma(rows, count, w, out_w, out);
      break;
    default:
      vertical_plain(rows, count, w, out_w, out);
      break;
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
