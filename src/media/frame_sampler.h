// Internal to src/media: the per-frame work of a decoding pass. For each decoded frame whose
// index is wanted, convert it to RGB24, resize it to the target size and turn it upright, and
// keep the result (and, if asked, the RGB frame as decoded). Other frames are only counted.
#ifndef VCAP_MEDIA_FRAME_SAMPLER_H_
#define VCAP_MEDIA_FRAME_SAMPLER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "media/clip_error.h"
#include "media/resize.h"
#include "media/sampling.h"
#include "media/video_pass.h"

namespace vcap::media::detail {

// Frames kept across passes, by decode index. Resized frames are written back to back into one
// buffer in the order they are kept, so the usual case (one pass, increasing unique indices)
// hands that buffer to the Clip as it is: no per-frame allocation, no copy.
struct FrameStore {
  FrameSize resized_size;  // displayed orientation: [3, height, width] per frame
  int rotation = 0;        // clockwise degrees applied after the resize
  std::vector<uint8_t> resized_frames;       // planar RGB frames of resized_size, back to back
  std::map<int64_t, size_t> resized_slot;    // decode index -> frame number in resized_frames
  std::map<int64_t, std::vector<uint8_t>> selected;  // packed RGB as decoded (keep_selected)
  std::map<int64_t, FrameSize> selected_sizes;

  size_t frame_bytes() const {
    return static_cast<size_t>(3 * resized_size.height * resized_size.width);
  }
  // Room for the resized frame of `index` at the end of resized_frames.
  uint8_t* add_resized(int64_t index);
};

class FrameSampler {
 public:
  // wanted: decode indices to keep (any order, duplicates allowed). stop_after_last: ask the
  // pass to stop once the last wanted frame is kept (when the frame count is already known).
  // `store` must outlive the sampler; its resized_size and rotation say what to produce.
  FrameSampler(const std::vector<int64_t>& wanted, bool keep_selected, bool stop_after_last,
               FrameStore& store);

  FrameAction visit(int64_t index, const AVFrame& frame);
  FrameVisitor visitor() {
    return [this](int64_t index, const AVFrame& frame) { return visit(index, frame); };
  }

  // Set when a frame could not be converted; the pass was asked to stop.
  const std::optional<ClipError>& error() const { return error_; }
  // The size of frame 0 as decoded (the reference's frame shape); zero if none was seen.
  FrameSize first_frame_size() const { return first_frame_size_; }

 private:
  void keep(int64_t index, const RgbView& rgb);

  std::vector<int64_t> wanted_;  // sorted, unique
  bool keep_selected_;
  bool stop_after_last_;
  FrameStore& store_;
  RgbConverter converter_;
  std::unique_ptr<BicubicResizer> resizer_;
  std::vector<uint8_t> coded_resized_;  // resize output before rotation
  std::optional<ClipError> error_;
  FrameSize first_frame_size_;
};

}  // namespace vcap::media::detail

#endif  // VCAP_MEDIA_FRAME_SAMPLER_H_
