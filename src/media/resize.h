// Antialiased bicubic resize with torchvision/PIL semantics (spec/QWEN2VL.md §6.6).
//
// The reference resizes uint8 frames with torchvision's tensor resize (BICUBIC, antialias=True):
// the frames become float32, a horizontal pass then a vertical pass apply per-output-pixel
// weights from the Keys cubic (a = -0.5) stretched by the downscale factor, the result is
// clamped to [0, 255], rounded half to even and stored as uint8. This is our own separable
// implementation of that arithmetic: weights are computed once per axis (in the same mixed
// float/double precision as torch), each output value is a sequential float32 sum of fused
// multiply-adds over its taps (what the reference build computes: the golden frames match to the
// last bit except at a handful of exact .5 ties), and the passes run on blocks of 8 rows so the
// compiler can vectorise them; an AVX2+FMA build of the loops is picked at run time when the CPU
// has it (same results, faster). An axis whose size
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

// Resizes RGB frames of one input size to one output size. Holds the weights of both axes and a
// float scratch buffer, so reuse one object for all frames of a clip.
// Thread safety: resize() mutates the scratch buffer; use one object per thread.
class BicubicResizer {
 public:
  // REQUIRES: all sides > 0.
  BicubicResizer(FrameSize in, FrameSize out);

  FrameSize in_size() const { return in_; }
  FrameSize out_size() const { return out_; }

  // src: packed RGB24, in.height rows of in.width * 3 bytes, rows `src_stride` bytes apart.
  // dst: planar RGB, [3, out.height, out.width] bytes (channel-first, as the model wants).
  void resize_packed_to_planar(const uint8_t* src, ptrdiff_t src_stride, uint8_t* dst);

 private:
  void horizontal_block(const uint8_t* src, ptrdiff_t src_stride, int64_t y0, int64_t rows);
  void vertical_and_store(uint8_t* dst);

  FrameSize in_;
  FrameSize out_;
  AxisTaps horizontal_;  // width in -> width out
  AxisTaps vertical_;    // height in -> height out
  bool use_fma_;         // run the AVX2+FMA build of the loops (same results, faster)
  std::vector<float> block_;         // [in.width, 3, 8]: 8 input rows, row index fastest
  std::vector<float> intermediate_;  // [3, in.height, out.width]: after the horizontal pass
  std::vector<float> row_acc_;       // [out.width]: one output row being summed
};

// Rotates planar or packed images clockwise by 0, 90, 180 or 270 degrees.
// src: `height` rows of `width` pixels of `pixel_bytes` bytes, packed; dst gets the rotated image
// (width x height for 90 and 270). For planar data call it once per plane with pixel_bytes 1.
// REQUIRES: degrees_cw in {0, 90, 180, 270}; src and dst do not overlap.
void rotate_image(const uint8_t* src, int64_t height, int64_t width, int64_t pixel_bytes,
                  int degrees_cw, uint8_t* dst);

}  // namespace vcap::media

#endif  // VCAP_MEDIA_RESIZE_H_
