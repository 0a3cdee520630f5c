// Internal to src/media: which frames a decoding pass may leave undecoded.
//
// A frame that no other frame is predicted from (H.264 nal_ref_idc 0; HEVC sub-layer
// non-reference pictures) changes no other frame. When it is not a sampled frame, its packet
// can go to the decoder with skip_frame = AVDISCARD_NONREF, and the decoder drops it unread.
// In a typical H.264 file with B-frames that is 40-50% of the frames; every frame that is
// decoded comes out with the same bits as in a full decode.
//
// A skipped frame gives no output, so output frames can no longer be numbered by counting.
// They are numbered by timestamp instead: a frame's decode index (spec §6: frames in output
// order) is the rank of its pts among all the packets' pts, from the demux pass. That needs a
// timeline in which every packet has a pts of its own. The count also rests on each skipped
// packet being a frame a full decode would output. So nothing is skipped before the first
// keyframe or at or before its timestamp (leading frames that may not decode are always
// decoded), and the pass checks that every packet it did decode gave exactly its own frame,
// with no decode error. If that check fails, the caller decodes the clip again, every frame.
// What the check cannot see is a damaged non-reference frame that a full decode would have
// dropped: a broken file the reference reads its own way anyway.
#ifndef VCAP_MEDIA_FRAME_SKIPPING_H_
#define VCAP_MEDIA_FRAME_SKIPPING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vcap::media::detail {

// The video packets of a stream as a demux pass saw them.
struct PacketTimeline {
  std::string codec_name;
  // HEVC: the temporal sub-layers its SPS allows (hevc_temporal_layers); 0 when unknown.
  int temporal_layers = 0;
  std::vector<std::optional<int64_t>> pts;  // per packet, in decode order
  int64_t first_keyframe = -1;              // decode number of the first keyframe packet
  bool has_discarded_packets = false;       // packets outside an MP4 edit list
  bool truncated = false;
};

// The temporal sub-layers an HEVC stream may use (sps_max_sub_layers_minus1 + 1), read from
// the SPS in its extradata: an hvcC record (MP4, MKV) or Annex B start codes (TS, raw); 0 when
// no SPS is found. A "sub-layer non-reference" picture, which AVDISCARD_NONREF drops, may still
// be a reference for pictures of higher sub-layers: skipping is exact only with one layer.
int hevc_temporal_layers(const uint8_t* extradata, size_t size);

class FrameSkipper {
 public:
  // A skipper that lets the frames of `wanted` (decode indices) and every frame it cannot prove
  // safe be decoded; nullopt when the stream offers no frame to skip or the timeline does not
  // number the frames (missing or repeated pts, discarded packets, damage, a codec whose
  // skipping is not known to keep the other frames exact).
  static std::optional<FrameSkipper> plan(const PacketTimeline& timeline,
                                          const std::vector<int64_t>& wanted);

  // Whether the packet with this decode number may go to the decoder as skippable.
  bool skippable(int64_t packet) const;
  // The decode index of an output frame, from its pts. nullopt when no packet has that pts or
  // a frame with it came out already: the numbering does not hold.
  std::optional<int64_t> index_of(std::optional<int64_t> pts);
  // After the pass: every packet not skippable gave its frame.
  bool every_decoded_frame_seen() const;

  int64_t frames() const { return static_cast<int64_t>(sorted_pts_.size()); }

 private:
  std::vector<int64_t> sorted_pts_;  // presentation order: index -> pts
  std::vector<bool> skippable_;      // by decode number of the packet
  std::vector<int64_t> index_of_packet_;
  std::vector<bool> seen_;  // by index
};

}  // namespace vcap::media::detail

#endif  // VCAP_MEDIA_FRAME_SKIPPING_H_
