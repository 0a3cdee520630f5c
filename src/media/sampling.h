// Frame sampling and output-size rules of qwen-vl-utils 0.0.8 ("U8", spec/QWEN2VL.md §6.3–§6.5).
//
// Pure functions of a few numbers, exact to the reference's arithmetic (Python float64 with
// round-half-to-even, torch float32 linspace), so that frame indices and sizes match the
// golden data bit for bit. They know nothing about FFmpeg.
#ifndef VCAP_MEDIA_SAMPLING_H_
#define VCAP_MEDIA_SAMPLING_H_

#include <cstdint>
#include <vector>

#include "media/clip_error.h"

namespace vcap::media {

// Sides are multiples of this (patch 14 x merge 2).
inline constexpr int64_t kImageFactor = 28;
inline constexpr int64_t kVideoMinPixels = 128 * 28 * 28;   // 100352
inline constexpr int64_t kImageMinPixels = 4 * 28 * 28;     // 3136, used by the exact-size mode
inline constexpr int64_t kImageMaxPixels = 16384 * 28 * 28;  // 12845056, idem, and the
                                                             // processor's bound (spec §7.1)
inline constexpr double kMaxAspectRatio = 200.0;
inline constexpr int64_t kFpsMinFrames = 4;
inline constexpr int64_t kFpsMaxFrames = 768;

// Python's round() on a double: nearest integer, ties to even.
int64_t round_half_even(double value);

// spec §6.3 (U8, fps mode): how many frames to sample from a clip of `total_frames` frames at
// `video_fps`, sampling at `fps` frames per second. Rounded to an even count, at least 4 and at
// most min(768, total_frames) (both rounded to even).
// Errors: kTooFewFrames when the result is outside [2, total_frames] (e.g. a 1-frame clip),
// kInvalidOptions when fps or video_fps is not a positive finite number.
ClipResult<int64_t> smart_nframes(int64_t total_frames, double video_fps, double fps);

// spec §6.4: the indices of the sampled frames, torch.linspace(0, total_frames - 1, nframes)
// in float32 rounded half to even (emulating the CPU kernel, which fills 8-wide vectors and
// counts the second half back from the end). Increasing; REQUIRES: 2 <= nframes.
std::vector<int64_t> frame_indices(int64_t total_frames, int64_t nframes);

struct FrameSize {
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const FrameSize&) const = default;
};

// spec §6.5 smart_resize (qwen-vl-utils form): the output size nearest to height x width with
// sides multiples of `factor`, area within [min_pixels, max_pixels] where possible, aspect
// kept. Errors: kBadAspectRatio when the longer side is over 200 times the shorter,
// kInvalidOptions when a size or bound is not positive.
ClipResult<FrameSize> smart_resize(int64_t height, int64_t width, int64_t factor,
                                   int64_t min_pixels, int64_t max_pixels);

}  // namespace vcap::media

#endif  // VCAP_MEDIA_SAMPLING_H_
