// The Qwen2-VL pixel processor for video (spec/QWEN2VL.md §7): uint8 RGB frames, already sized
// by the media module (sides multiples of patch_size * merge_size), become the vision tower's
// `pixel_values` [grid_t * grid_h * grid_w, 3 * temporal_patch_size * patch_size^2] float32 (or
// those values rounded to bf16, see PixelValues) and `video_grid_thw`.
//
// Arithmetic is the slow (numpy) Hugging Face processor's, so results are bit-exact with it:
// x * (1/255) in double stored as float32, then (v - mean[c]) / std[c] in float32, with mean and
// std as float32. Frames are padded to a multiple of temporal_patch_size by repeating the last
// one. The model module does not depend on media: frames come in as a plain view.
#ifndef VCAP_MODEL_PROCESSOR_H_
#define VCAP_MODEL_PROCESSOR_H_

#include <array>
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "tensor/tensor.h"

namespace vcap::model {

// Non-owning view of uint8 RGB frames, channel-first and contiguous: [frames, 3, height, width]
// (the layout media::Clip::frames has). The data must outlive the call it is passed to.
struct VideoFramesView {
  const uint8_t* data = nullptr;
  int64_t frames = 0;
  int64_t height = 0;
  int64_t width = 0;
};

// pixel_values [rows, cols] row-major, in f32 or in bf16. The bf16 values are the f32 ones
// rounded to nearest even, which is what a bf16 vision tower's first matmul would round them to:
// the same result for half the bytes to write, hold and upload (137 MB -> 68 MB for a 10 s clip).
struct PixelValues {
  tensor::HostDType dtype = tensor::HostDType::kF32;  // kF32 or kBF16
  std::vector<float> values;                          // kF32
  std::vector<uint16_t> bf16_values;                  // kBF16: the bits
  int64_t rows = 0;                   // grid_t * grid_h * grid_w
  int64_t cols = 0;                   // 3 * temporal_patch_size * patch_size^2 (1176 for Qwen2-VL)
  std::array<int64_t, 3> grid_thw{};  // video_grid_thw: frames / tp, height / ps, width / ps

  tensor::HostMatrix matrix() const;
};

// Rescales, normalises, pads and flattens the frames (spec §7.2–§7.4). Row
// ((t * grid_h/m + r/m) * grid_w/m + q/m) * m^2 + (r%m) * m + q%m holds the patch at temporal
// group t, patch row r, patch column q (m = merge_size); inside a row, element
// ((c * tp + i) * ps + py) * ps + px is channel c of frame t * tp + i at (r * ps + py, q * ps +
// px). `dtype`: kF32 or kBF16 (see PixelValues). Errors (invalid_argument): no frames, a null
// pointer, a side that is not a multiple of patch_size * merge_size (the frames were not sized by
// smart_resize), or a dtype other than those two.
Result<PixelValues> preprocess_video(const VideoFramesView& frames,
                                     const PreprocessorConfig& config,
                                     tensor::HostDType dtype = tensor::HostDType::kF32);

}  // namespace vcap::model

#endif  // VCAP_MODEL_PROCESSOR_H_
