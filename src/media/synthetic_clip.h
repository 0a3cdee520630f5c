// Writes a synthetic test clip: a moving colour pattern encoded with FFmpeg, so benchmarks and
// tests can run on a video of any size and length without shipping one. H.264 (libx264) when
// this FFmpeg has it, since that is what most datasets hold; MPEG-4 part 2 otherwise (built
// into every FFmpeg).
#ifndef VCAP_MEDIA_SYNTHETIC_CLIP_H_
#define VCAP_MEDIA_SYNTHETIC_CLIP_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/status.h"

namespace vcap::media {

struct SyntheticClipSpec {
  int width = 1280;  // even
  int height = 720;  // even
  int fps = 30;
  double seconds = 10.0;
};

// Writes `spec` to `path` (the container from the extension, e.g. .mp4), atomically: a
// temporary file renamed into place, so an interrupted write never leaves a clip behind.
// Returns the encoder used ("libx264" or "mpeg4"). kInvalidArgument for odd or non-positive
// sizes, fps or seconds; kIoError when the file cannot be written.
Result<std::string> write_synthetic_clip(const std::filesystem::path& path,
                                         const SyntheticClipSpec& spec);

}  // namespace vcap::media

#endif  // VCAP_MEDIA_SYNTHETIC_CLIP_H_
