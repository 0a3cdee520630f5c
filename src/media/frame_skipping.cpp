#include "media/frame_skipping.h"

#include <algorithm>

namespace vcap::media::detail {
namespace {

// Decoders whose AVDISCARD_NONREF drops only frames nothing refers to, checked frame by frame
// (pts and CRC against a full decode) on the dev media; HEVC only with one temporal sub-layer
// (hevc_temporal_layers). VP8/VP9 files mark few frames so, and MPEG-4 part 2 packs B-frames
// into other frames' packets: not worth the risk.
bool skipping_known_exact(const PacketTimeline& timeline) {
  if (timeline.codec_name == "hevc") return timeline.temporal_layers == 1;
  return timeline.codec_name == "h264";
}

constexpr int kHevcSpsType = 33;

// Layers from an SPS NAL unit (2-byte header, then vps id (4 bits), max_sub_layers_minus1 (3)).
int layers_of_sps(const uint8_t* nal, size_t size) {
  if (size < 3 || ((nal[0] >> 1) & 0x3f) != kHevcSpsType) return 0;
  return ((nal[2] >> 1) & 7) + 1;
}

}  // namespace

int hevc_temporal_layers(const uint8_t* extradata, size_t size) {
  if (extradata == nullptr || size < 3) return 0;
  if (extradata[0] == 1 && size >= 23) {
    // hvcC: 22 bytes of fields, then arrays of NAL units: type (6 low bits), count (2 bytes),
    // each unit's length (2 bytes) and bytes.
    size_t at = 23;
    for (int array = 0; array < extradata[22] && at + 3 <= size; ++array) {
      const int type = extradata[at] & 0x3f;
      const int units = extradata[at + 1] << 8 | extradata[at + 2];
      at += 3;
      for (int unit = 0; unit < units && at + 2 <= size; ++unit) {
        const size_t length = static_cast<size_t>(extradata[at] << 8 | extradata[at + 1]);
        at += 2;
        if (at + length > size) return 0;
        if (type == kHevcSpsType) return layers_of_sps(extradata + at, length);
        at += length;
      }
    }
    return 0;
  }
  // Annex B: NAL units after 00 00 01 start codes.
  for (size_t at = 0; at + 3 < size; ++at) {
    if (extradata[at] == 0 && extradata[at + 1] == 0 && extradata[at + 2] == 1) {
      const int layers = layers_of_sps(extradata + at + 3, size - at - 3);
      if (layers > 0) return layers;
    }
  }
  return 0;
}

std::optional<FrameSkipper> FrameSkipper::plan(const PacketTimeline& timeline,
                                               const std::vector<int64_t>& wanted) {
  if (!skipping_known_exact(timeline) || timeline.has_discarded_packets || timeline.truncated ||
      timeline.first_keyframe < 0) {
    return std::nullopt;
  }
  FrameSkipper skipper;
  skipper.sorted_pts_.reserve(timeline.pts.size());
  for (const std::optional<int64_t>& pts : timeline.pts) {
    if (!pts) return std::nullopt;
    skipper.sorted_pts_.push_back(*pts);
  }
  std::sort(skipper.sorted_pts_.begin(), skipper.sorted_pts_.end());
  if (std::adjacent_find(skipper.sorted_pts_.begin(), skipper.sorted_pts_.end()) !=
      skipper.sorted_pts_.end()) {
    return std::nullopt;
  }
  const size_t packets = timeline.pts.size();
  const int64_t keyframe_pts = *timeline.pts[static_cast<size_t>(timeline.first_keyframe)];
  std::vector<bool> is_wanted(packets, false);
  for (int64_t index : wanted) {
    if (index >= 0 && static_cast<size_t>(index) < packets) {
      is_wanted[static_cast<size_t>(index)] = true;
    }
  }
  skipper.skippable_.assign(packets, false);
  skipper.index_of_packet_.resize(packets);
  skipper.seen_.assign(packets, false);
  bool any = false;
  for (size_t packet = 0; packet < packets; ++packet) {
    const int64_t pts = *timeline.pts[packet];
    const auto index = static_cast<size_t>(
        std::lower_bound(skipper.sorted_pts_.begin(), skipper.sorted_pts_.end(), pts) -
        skipper.sorted_pts_.begin());
    skipper.index_of_packet_[packet] = static_cast<int64_t>(index);
    const bool after_keyframe =
        static_cast<int64_t>(packet) > timeline.first_keyframe && pts > keyframe_pts;
    skipper.skippable_[packet] = after_keyframe && !is_wanted[index];
    any = any || skipper.skippable_[packet];
  }
  if (!any) return std::nullopt;
  return skipper;
}

bool FrameSkipper::skippable(int64_t packet) const {
  return packet >= 0 && static_cast<size_t>(packet) < skippable_.size() &&
         skippable_[static_cast<size_t>(packet)];
}

std::optional<int64_t> FrameSkipper::index_of(std::optional<int64_t> pts) {
  if (!pts) return std::nullopt;
  const auto found = std::lower_bound(sorted_pts_.begin(), sorted_pts_.end(), *pts);
  if (found == sorted_pts_.end() || *found != *pts) return std::nullopt;
  const auto index = static_cast<size_t>(found - sorted_pts_.begin());
  if (seen_[index]) return std::nullopt;
  seen_[index] = true;
  return static_cast<int64_t>(index);
}

bool FrameSkipper::every_decoded_frame_seen() const {
  for (size_t packet = 0; packet < skippable_.size(); ++packet) {
    const auto index = static_cast<size_t>(index_of_packet_[packet]);
    if (!skippable_[packet] && !seen_[index]) return false;
  }
  return true;
}

}  // namespace vcap::media::detail
