#include "model/processor.h"

#include <algorithm>
#include <string>

#include "base/huge_pages.h"
#include "tensor/dtype.h"

namespace vcap::model {
namespace {

// out[c][x]: the normalised value of byte x in channel c (spec §7.2, slow-processor arithmetic:
// the rescale factor, 1/255 in Qwen2-VL's files, applied in float64), each step only where the
// preprocessor config leaves it on.
std::array<std::array<float, 256>, 3> normalisation_table(const PreprocessorConfig& config) {
  std::array<std::array<float, 256>, 3> table{};
  for (int c = 0; c < 3; ++c) {
    const float mean = config.image_mean[static_cast<size_t>(c)];
    const float std = config.image_std[static_cast<size_t>(c)];
    for (int x = 0; x < 256; ++x) {
      const double value = config.do_rescale ? x * config.rescale_factor : x;
      const float rescaled = static_cast<float>(value);
      table[static_cast<size_t>(c)][static_cast<size_t>(x)] =
          config.do_normalize ? (rescaled - mean) / std : rescaled;
    }
  }
  return table;
}

// Writes the rows of spec §7.4 through `table` (byte -> value, per channel) into `dst`.
template <class T>
void flatten_patches(const VideoFramesView& frames, const PreprocessorConfig& config,
                     const std::array<std::array<T, 256>, 3>& table, T* dst) {
  const int64_t ps = config.patch_size;
  const int64_t tp = config.temporal_patch_size;
  const int64_t m = config.merge_size;
  const int64_t grid_t = (frames.frames + tp - 1) / tp;
  const int64_t grid_h = frames.height / ps;
  const int64_t grid_w = frames.width / ps;
  const int64_t plane = frames.height * frames.width;
  // Rows in output order: temporal group, merge block (raster), patch inside the block.
  for (int64_t t = 0; t < grid_t; ++t) {
    for (int64_t block_r = 0; block_r < grid_h / m; ++block_r) {
      for (int64_t block_q = 0; block_q < grid_w / m; ++block_q) {
        for (int64_t in_r = 0; in_r < m; ++in_r) {
          for (int64_t in_q = 0; in_q < m; ++in_q) {
            const int64_t y0 = (block_r * m + in_r) * ps;
            const int64_t x0 = (block_q * m + in_q) * ps;
            for (int64_t c = 0; c < 3; ++c) {
              const std::array<T, 256>& lut = table[static_cast<size_t>(c)];
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
}

}  // namespace

tensor::HostMatrix PixelValues::matrix() const {
  const void* data = dtype == tensor::HostDType::kBF16
                         ? static_cast<const void*>(bf16_values.data())
                         : static_cast<const void*>(values.data());
  return {data, dtype, rows, cols};
}

Result<PixelValues> preprocess_video(const VideoFramesView& frames,
                                     const PreprocessorConfig& config, tensor::HostDType dtype) {
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
    return Status::invalid_argument("processor: frame size " + std::to_string(frames.width) + "x" +
                                    std::to_string(frames.height) + " is not a multiple of " +
                                    std::to_string(ps * m) +
                                    " (frames must be sized by smart_resize)");
  }
  if (dtype != tensor::HostDType::kF32 && dtype != tensor::HostDType::kBF16) {
    return Status::invalid_argument(std::string("processor: pixel values in ") +
                                    tensor::host_dtype_name(dtype) + " (f32 or bf16 only)");
  }
  PixelValues out;
  out.dtype = dtype;
  const int64_t grid_t = (frames.frames + tp - 1) / tp;
  out.grid_thw = {grid_t, frames.height / ps, frames.width / ps};
  out.rows = grid_t * out.grid_thw[1] * out.grid_thw[2];
  out.cols = 3 * tp * ps * ps;
  const auto count = static_cast<size_t>(out.rows * out.cols);
  const auto table = normalisation_table(config);
  if (dtype == tensor::HostDType::kF32) {
    reserve_on_huge_pages(out.values, count);
    out.values.resize(count);
    flatten_patches(frames, config, table, out.values.data());
  } else {
    std::array<std::array<uint16_t, 256>, 3> bf16_table{};
    for (size_t c = 0; c < 3; ++c) {
      for (size_t x = 0; x < 256; ++x) bf16_table[c][x] = tensor::f32_to_bf16(table[c][x]);
    }
    reserve_on_huge_pages(out.bf16_values, count);
    out.bf16_values.resize(count);
    flatten_patches(frames, config, bf16_table, out.bf16_values.data());
  }
  return out;
}

}  // namespace vcap::model
