// Antialiased bicubic resize with torchvision/PIL semantics (spec/QWEN2VL.md §6.6).
//
// The reference resizes uint8 frames with torchvision's tensor resize (BICUBIC, antialias=True):
// the frames become float32, a horizontal pass then a vertical pass apply per-output-pixel
// weights from the Keys cubic (a = -0.5) stretched by the downscale factor, the result is
// clamped to [0, 255], rounded half to even and stored as uint8. This is our own separable
// implementation of that arithmetic: weights are computed once per axis (in the same mixed
// float/double precision as torch), each output value is a sequential float32 sum of fused
// multiply-adds over its taps (what the reference build computes: the golden frames match to the
// last bit except at a handful of exact .5 ties). The kernels vectorise across outputs, never
// across the taps of one output, so they all give the same bytes (ResizeKernel): the portable
// loops run on blocks of 8 rows, an AVX2+FMA build of them and AVX-512 kernels (16 rows or 16
// columns per vector) are picked at run time by CPU feature. The vertical pass follows the
// horizontal one block by block, while the rows it reads are still in cache. An axis whose size
// does not change is skipped (torch does the same), so equal sizes copy the frame unchanged.
#ifndef VCAP_MEDIA_RESIZE_H_
#define VCAP_MEDIA_RESIZE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/sampling.h"

namespace vcap::media {

// The taps of one axis: output index i reads `count[i]` inputs from `first[i]` on, weighted by
// weights[i * max_taps + j]; the weights of each output sum to 1 (float32).
struct AxisTaps {
  int64_t in_size = 0;
  int64_t out_size = 0;
  int64_t max_taps = 0;
  std::vector<int64_t> first;
  std::vector<int64_t> count;
  std::vector<float> weights;  // [out_size, max_taps], zero past count[i]
};

// The antialiased bicubic taps for resizing an axis from in_size to out_size (both > 0).
AxisTaps bicubic_axis_taps(int64_t in_size, int64_t out_size);

// The implementations of the sums; all give identical bytes, only their speed differs.
enum class ResizeKernel {
  kBest,      // the fastest this CPU runs: kAvx512, else kAvx2Fma, else kPortable
  kPortable,  // the loops built for the baseline instruction set (8 rows per block)
  kAvx2Fma,   // the same loops built for AVX2 + FMA
  kAvx512,    // AVX-512 F/BW/VL kernels: 16 rows (horizontal) or 16 columns (vertical) per vector
};

// Whether this CPU runs `kernel` (kBest and kPortable: always).
bool resize_kernel_supported(ResizeKernel kernel);

// Resizes RGB frames of one input size to one output size. Holds the weights of both axes and
// float scratch buffers, so reuse one object for all frames of a clip. The scratch is small: one
// block of input rows as floats and a ring of horizontally resized rows (as many as the vertical
// taps span plus a block, 16-48 rows for the usual sizes), never a whole float frame.
// Thread safety: resize() mutates the scratch buffers; use one object per thread.
class BicubicResizer {
 public:
  // REQUIRES: all sides > 0; resize_kernel_supported(kernel).
  BicubicResizer(FrameSize in, FrameSize out, ResizeKernel kernel = ResizeKernel::kBest);

  FrameSize in_size() const { return in_; }
  FrameSize out_size() const { return out_; }
  ResizeKernel kernel() const { return kernel_; }  // the one in use (never kBest)

  // src: packed RGB24, in.height rows of in.width * 3 bytes, rows `src_stride` bytes apart.
  // dst: planar RGB, [3, out.height, out.width] bytes (channel-first, as the model wants).
  void resize_packed_to_planar(const uint8_t* src, ptrdiff_t src_stride, uint8_t* dst);

 private:
  void horizontal_block(const uint8_t* src, ptrdiff_t src_stride, int64_t y0, int64_t rows);
  int64_t vertical_rows(int64_t y, int64_t rows_ready, uint8_t* dst);
  void vertical_row(int64_t c, int64_t y, uint8_t* dst);
  float* intermediate_row(int64_t c, int64_t y);  // channel c of input row y, in the ring

  FrameSize in_;
  FrameSize out_;
  AxisTaps horizontal_;  // width in -> width out
  AxisTaps vertical_;    // height in -> height out
  ResizeKernel kernel_;
  int64_t block_rows_;  // input rows per horizontal block: 8, or 16 for kAvx512
  // The transposed input block, [in.width, 3, block_rows_] with the row index fastest, starts
  // block_offset_ floats into block_storage_ (64-byte aligned there).
  std::vector<float> block_storage_;
  size_t block_offset_ = 0;
  // After the horizontal pass: [3, ring_rows_, out.width], input row y in slot y % ring_rows_;
  // ring_rows_ is a multiple of block_rows_ that covers the rows the vertical taps still need.
  int64_t ring_rows_ = 0;
  std::vector<float> intermediate_;
  std::vector<const float*> tap_rows_;  // [vertical max_taps]: the input rows of one output row
};

// Rotates planar or packed images clockwise by 0, 90, 180 or 270 degrees.
// src: `height` rows of `width` pixels of `pixel_bytes` bytes, packed; dst gets the rotated image
// (width x height for 90 and 270). For planar data call it once per plane with pixel_bytes 1.
// REQUIRES: degrees_cw in {0, 90, 180, 270}; src and dst do not overlap.
void rotate_image(const uint8_t* src, int64_t height, int64_t width, int64_t pixel_bytes,
                  int degrees_cw, uint8_t* dst);

}  // namespace vcap::media

#endif  // VCAP_MEDIA_RESIZE_H_
