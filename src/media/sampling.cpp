#include "media/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace vcap::media {
namespace {

ClipError invalid(const std::string& what) {
  return ClipError(ClipErrorKind::kInvalidOptions, "media: " + what);
}

// qwen-vl-utils helpers (spec §6.1), in Python float64.
int64_t round_by_factor(double number, int64_t factor) {
  return round_half_even(number / static_cast<double>(factor)) * factor;
}
int64_t ceil_by_factor(double number, int64_t factor) {
  return static_cast<int64_t>(std::ceil(number / static_cast<double>(factor))) * factor;
}
int64_t floor_by_factor(double number, int64_t factor) {
  return static_cast<int64_t>(std::floor(number / static_cast<double>(factor))) * factor;
}

}  // namespace

int64_t round_half_even(double value) { return static_cast<int64_t>(std::nearbyint(value)); }

ClipResult<int64_t> smart_nframes(int64_t total_frames, double video_fps, double fps) {
  if (!(std::isfinite(fps) && fps > 0)) return invalid("fps must be positive");
  if (!(std::isfinite(video_fps) && video_fps > 0)) {
    return ClipError(ClipErrorKind::kDecodeError, "media: the video stream has no frame rate");
  }
  const int64_t min_frames = ceil_by_factor(static_cast<double>(kFpsMinFrames), 2);
  const int64_t max_frames =
      floor_by_factor(static_cast<double>(std::min(kFpsMaxFrames, total_frames)), 2);
  // Python evaluates total_frames / video_fps * fps left to right.
  double n = static_cast<double>(total_frames) / video_fps * fps;
  n = std::min(std::max(n, static_cast<double>(min_frames)), static_cast<double>(max_frames));
  const int64_t nframes = round_by_factor(n, 2);
  if (nframes < 2 || nframes > total_frames) {
    return ClipError(ClipErrorKind::kTooFewFrames,
                     "media: " + std::to_string(total_frames) +
                         " decodable frame(s) give " + std::to_string(nframes) +
                         " sampled frames; at least 2 are needed");
  }
  return nframes;
}

std::vector<int64_t> frame_indices(int64_t total_frames, int64_t nframes) {
  VCAP_CHECK(nframes >= 2, "frame_indices needs at least 2 frames");
  // torch.linspace(0, end, steps) on CPU, float32: step = (end - start) / (steps - 1); element i
  // is start + step * i in the first half and end - step * (steps - i - 1) in the second.
  // Contiguous output goes through the vectorised loop: pairs of 8-float vectors, each filled
  // as base + j * step from the formula at its first element, then a scalar tail.
  const float start = 0.0f;
  const float end = static_cast<float>(total_frames - 1);
  const float step = (end - start) / static_cast<float>(nframes - 1);
  const int64_t halfway = nframes / 2;
  auto scalar = [&](int64_t i) {
    return i < halfway ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(nframes - i - 1);
  };
  constexpr int64_t kVector = 8;
  std::vector<float> values(static_cast<size_t>(nframes));
  int64_t i = 0;
  for (; i + 2 * kVector <= nframes; i += 2 * kVector) {
    for (int64_t v = i; v < i + 2 * kVector; v += kVector) {
      const float base = scalar(v);
      for (int64_t j = 0; j < kVector; ++j) {
        values[static_cast<size_t>(v + j)] = base + static_cast<float>(j) * step;
      }
    }
  }
  for (; i < nframes; ++i) values[static_cast<size_t>(i)] = scalar(i);

  std::vector<int64_t> indices(values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    indices[k] = static_cast<int64_t>(std::nearbyint(values[k]));
  }
  return indices;
}

ClipResult<FrameSize> smart_resize(int64_t height, int64_t width, int64_t factor,
                                   int64_t min_pixels, int64_t max_pixels) {
  if (height <= 0 || width <= 0) return invalid("frame size must be positive");
  if (factor <= 0 || min_pixels <= 0 || max_pixels <= 0) {
    return invalid("resize factor and pixel bounds must be positive");
  }
  const double h = static_cast<double>(height);
  const double w = static_cast<double>(width);
  if (std::max(h, w) / std::min(h, w) > kMaxAspectRatio) {
    return ClipError(ClipErrorKind::kBadAspectRatio,
                     "media: frame " + std::to_string(width) + "x" + std::to_string(height) +
                         " has an aspect ratio over 200");
  }
  FrameSize out{std::max(factor, round_by_factor(h, factor)),
                std::max(factor, round_by_factor(w, factor))};
  if (out.height * out.width > max_pixels) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    out = {floor_by_factor(h / beta, factor), floor_by_factor(w / beta, factor)};
  } else if (out.height * out.width < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    out = {ceil_by_factor(h * beta, factor), ceil_by_factor(w * beta, factor)};
  }
  if (out.height <= 0 || out.width <= 0) {
    // qwen-vl-utils 0.0.8 would go on with a zero side; no resize can produce it. The frame's
    // shape does not fit the area: a setting to change, not a fault.
    return ClipError(ClipErrorKind::kBadAspectRatio,
                     "media: frame " + std::to_string(width) + "x" + std::to_string(height) +
                         " is too narrow for an area of " + std::to_string(max_pixels) +
                         " pixels: its short side would be under " + std::to_string(factor) +
                         " (raise --height/--width)");
  }
  return out;
}

}  // namespace vcap::media
