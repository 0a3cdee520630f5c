#include "model/processor.h"

#include <algorithm>
#include <string>

namespace vcap::model {
namespace {

// out[c][x]: the normalised value of byte x in channel c (spec §7.2, slow-processor arithmetic).
std::array<std::array<float, 256>, 3> normalisation_table(const PreprocessorConfig& config) {
  constexpr double kRescale = 1.0 / 255.0;  // Python's 1/255, applied in float64
  std::array<std::array<float, 256>, 3> table{};
  for (int c = 0; c < 3; ++c) {
    const float mean = config.image_mean[static_cast<size_t>(c)];
    const float std = config.image_std[static_cast<size_t>(c)];
    for (int x = 0; x < 256; ++x) {
      const float rescaled = static_cast<float>(static_cast<double>(x) * kRescale);
      table[static_cast<size_t>(c)][static_cast<size_t>(x)] = (rescaled - mean) / std;
    }
  }
  return table;
}

}  // namespace

Result<PixelValues> preprocess_video(const VideoFramesView& frames,
                                     const PreprocessorConfig& config) {
  const int64_t ps = config.patch_size;
  const int64_t tp = config.temporal_patch_size;
  const int64_t m = config.merge_size;
  if (ps <= 0 || tp <= 0 || m <= 0) {
    return Status::invalid_argument("processor: patch sizes must be positive");
  }
  if (frames.data == nullptr || frames.frames <= 0) {
    return Status::invalid_argument("processor: no frames");
  }
  if (frames.height <= 0 || frames.width <= 0 || frames.height % (ps * m) != 0 ||
      frames.width % (ps * m) != 0) {
    return Status::invalid_argument(
        "processor: frame size " + std::to_string(frames.width) + "x" +
        std::to_string(frames.height) + " is not a multiple of " + std::to_string(ps * m) +
        " (frames must be sized by smart_resize)");
  }
  PixelValues out;
  const int64_t grid_t = (frames.frames + tp - 1) / tp;
  const int64_t grid_h = frames.height / ps;
  const int64_t grid_w = frames.width / ps;
  out.grid_thw = {grid_t, grid_h, grid_w};
  out.rows = grid_t * grid_h * grid_w;
  out.cols = 3 * tp * ps * ps;
  out.values.resize(static_cast<size_t>(out.rows * out.cols));
  const auto table = normalisation_table(config);
  const int64_t plane = frames.height * frames.width;

  float* dst = out.values.data();
  // Rows in output order: temporal group, merge block (raster), patch inside the block.
  for (int64_t t = 0; t < grid_t; ++t) {
    for (int64_t block_r = 0; block_r < grid_h / m; ++block_r) {
      for (int64_t block_q = 0; block_q < grid_w / m; ++block_q) {
        for (int64_t in_r = 0; in_r < m; ++in_r) {
          for (int64_t in_q = 0; in_q < m; ++in_q) {
            const int64_t y0 = (block_r * m + in_r) * ps;
            const int64_t x0 = (block_q * m + in_q) * ps;
            for (int64_t c = 0; c < 3; ++c) {
              const std::array<float, 256>& lut = table[static_cast<size_t>(c)];
              for (int64_t i = 0; i < tp; ++i) {
                // Padding repeats the last frame (spec §7.3).
                const int64_t frame = std::min(t * tp + i, frames.frames - 1);
                const uint8_t* src = frames.data + (frame * 3 + c) * plane;
                for (int64_t py = 0; py < ps; ++py) {
                  const uint8_t* row = src + (y0 + py) * frames.width + x0;
                  for (int64_t px = 0; px < ps; ++px) *dst++ = lut[row[px]];
                }
              }
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace vcap::model
