// Skipping unsampled non-reference frames: the numbering rules of FrameSkipper on made-up
// timelines, a decoding pass that must notice a numbering that does not hold, and load_clip
// giving the same clip with and without skipping on the in-repo H.264 and HEVC files.
#include "media/frame_skipping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "media/clip.h"
#include "media/video_pass.h"

namespace vcap::media {
namespace {

using detail::FrameSkipper;
using detail::PacketTimeline;

std::string data(const std::string& name) {
  return std::string(VCAP_TEST_DATA_DIR) + "/media/" + name;
}

// Decode order I0 P3 B1 B2 P6 B4 B5 (pts in frame units): the usual B-frame pattern.
PacketTimeline ibbp_timeline() {
  PacketTimeline timeline;
  timeline.codec_name = "h264";
  timeline.pts = {0, 3, 1, 2, 6, 4, 5};
  timeline.first_keyframe = 0;
  return timeline;
}

std::vector<bool> skippable_packets(const FrameSkipper& skipper, int64_t packets) {
  std::vector<bool> out;
  for (int64_t p = 0; p < packets; ++p) out.push_back(skipper.skippable(p));
  return out;
}

TEST(FrameSkipper, SkipsEveryPacketAfterTheKeyframeThatIsNotWanted) {
  const std::optional<FrameSkipper> skipper = FrameSkipper::plan(ibbp_timeline(), {0, 2, 6});
  ASSERT_TRUE(skipper.has_value());
  EXPECT_EQ(skipper->frames(), 7);
  // Packet 3 holds pts 2 (index 2, wanted) and packet 4 pts 6 (wanted): both decode.
  EXPECT_EQ(skippable_packets(*skipper, 7),
            (std::vector<bool>{false, true, true, false, false, true, true}));
  EXPECT_FALSE(skipper->skippable(-1));
  EXPECT_FALSE(skipper->skippable(7));
}

TEST(FrameSkipper, NeverSkipsLeadingFramesOrPacketsBeforeTheFirstKeyframe) {
  // Open GOP: packet 0 is no keyframe; the keyframe (pts 2) is followed by leading B-frames
  // (pts 0, 1) that may need frames from before the cut.
  PacketTimeline timeline;
  timeline.codec_name = "hevc";
  timeline.temporal_layers = 1;
  timeline.pts = {7, 2, 0, 1, 5, 3, 4};
  timeline.first_keyframe = 1;
  const std::optional<FrameSkipper> skipper = FrameSkipper::plan(timeline, {});
  ASSERT_TRUE(skipper.has_value());
  EXPECT_EQ(skippable_packets(*skipper, 7),
            (std::vector<bool>{false, false, false, false, true, true, true}));
}

// HEVC with temporal sub-layers (some phones' high-frame-rate video): a picture AVDISCARD_NONREF
// drops as "sub-layer non-reference" may be a reference of a higher sub-layer, so nothing is
// skipped; nor when the layers are unknown.
TEST(FrameSkipper, HevcWithSeveralOrUnknownTemporalLayersDecodesEveryFrame) {
  PacketTimeline timeline = ibbp_timeline();
  timeline.codec_name = "hevc";
  timeline.temporal_layers = 1;
  EXPECT_TRUE(FrameSkipper::plan(timeline, {0}).has_value());
  timeline.temporal_layers = 3;
  EXPECT_FALSE(FrameSkipper::plan(timeline, {0}).has_value());
  timeline.temporal_layers = 0;
  EXPECT_FALSE(FrameSkipper::plan(timeline, {0}).has_value());
}

// The SPS's sps_max_sub_layers_minus1, from an hvcC record or Annex B start codes.
TEST(HevcTemporalLayers, ReadsTheSpsOfHvccAndAnnexB) {
  // SPS NAL unit: header 0x42 0x01 (type 33), then vps id 0, max_sub_layers_minus1 2, nesting 1.
  const std::vector<uint8_t> sps = {0x42, 0x01, 0x05, 0x01, 0x60};
  std::vector<uint8_t> hvcc(22, 0);
  hvcc[0] = 1;        // configurationVersion
  hvcc.push_back(2);  // arrays: a VPS (type 32), then the SPS
  for (const uint8_t byte : {0x20, 0x00, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c}) hvcc.push_back(byte);
  for (const uint8_t byte : {0x21, 0x00, 0x01, 0x00, 0x05}) hvcc.push_back(byte);
  hvcc.insert(hvcc.end(), sps.begin(), sps.end());
  EXPECT_EQ(detail::hevc_temporal_layers(hvcc.data(), hvcc.size()), 3);

  std::vector<uint8_t> annex_b = {0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 1};
  annex_b.insert(annex_b.end(), sps.begin(), sps.end());
  EXPECT_EQ(detail::hevc_temporal_layers(annex_b.data(), annex_b.size()), 3);

  EXPECT_EQ(detail::hevc_temporal_layers(hvcc.data(), 30), 0);  // cut inside the arrays
  EXPECT_EQ(detail::hevc_temporal_layers(nullptr, 0), 0);
}

TEST(FrameSkipper, NumbersFramesByTheRankOfTheirTimestamp) {
  std::optional<FrameSkipper> skipper = FrameSkipper::plan(ibbp_timeline(), {0, 6});
  ASSERT_TRUE(skipper.has_value());
  EXPECT_EQ(skipper->index_of(0), 0);
  EXPECT_FALSE(skipper->every_decoded_frame_seen());  // pts 6 (packet 4) has not come out
  EXPECT_EQ(skipper->index_of(6), 6);
  EXPECT_TRUE(skipper->every_decoded_frame_seen());
  EXPECT_EQ(skipper->index_of(3), 3);                        // a skippable frame may still come out
  EXPECT_EQ(skipper->index_of(3), std::nullopt);             // twice: the numbering fails
  EXPECT_EQ(skipper->index_of(9), std::nullopt);             // no packet has it
  EXPECT_EQ(skipper->index_of(std::nullopt), std::nullopt);  // no pts at all
}

TEST(FrameSkipper, RefusesTimelinesThatCannotNumberTheFrames) {
  const auto refused = [](PacketTimeline timeline) {
    return !FrameSkipper::plan(timeline, {0}).has_value();
  };
  EXPECT_FALSE(refused(ibbp_timeline()));
  PacketTimeline t = ibbp_timeline();
  t.pts[2] = std::nullopt;
  EXPECT_TRUE(refused(t)) << "a packet without pts";
  t = ibbp_timeline();
  t.pts[2] = 3;
  EXPECT_TRUE(refused(t)) << "two packets with one pts";
  t = ibbp_timeline();
  t.has_discarded_packets = true;
  EXPECT_TRUE(refused(t)) << "an edit list";
  t = ibbp_timeline();
  t.truncated = true;
  EXPECT_TRUE(refused(t)) << "damaged data";
  t = ibbp_timeline();
  t.first_keyframe = -1;
  EXPECT_TRUE(refused(t)) << "no keyframe";
  t = ibbp_timeline();
  t.codec_name = "vp9";
  EXPECT_TRUE(refused(t)) << "a codec not checked";
  EXPECT_FALSE(FrameSkipper::plan(ibbp_timeline(), {0, 1, 2, 3, 4, 5, 6}).has_value())
      << "nothing to skip";
}

detail::PassSettings one_thread() {
  return {1, std::chrono::steady_clock::now() + std::chrono::minutes(1)};
}

// The timeline of a real file, from a demux pass.
PacketTimeline timeline_of(const std::string& path) {
  ClipResult<detail::VideoPass> pass = detail::VideoPass::open(path, one_thread());
  EXPECT_TRUE(pass.ok());
  ClipResult<detail::PassSummary> summary = pass->demux_only();
  EXPECT_TRUE(summary.ok());
  return summary->timeline;
}

detail::PassSummary decode_with(const std::string& path, FrameSkipper& skipper,
                                std::vector<int64_t>& indices) {
  ClipResult<detail::VideoPass> pass = detail::VideoPass::open(path, one_thread());
  EXPECT_TRUE(pass.ok());
  ClipResult<detail::PassSummary> summary = pass->decode(
      [&](int64_t index, const AVFrame&) {
        indices.push_back(index);
        return detail::FrameAction::kContinue;
      },
      &skipper);
  EXPECT_TRUE(summary.ok());
  return *summary;
}

TEST(FrameSkippingPass, DecodesFewerFramesAndNumbersThemAsAFullDecode) {
  const std::string path = data("rotated_display_90cw.mp4");  // H.264 with B-frames, 90 frames
  std::optional<FrameSkipper> skipper = FrameSkipper::plan(timeline_of(path), {10, 50});
  ASSERT_TRUE(skipper.has_value());
  std::vector<int64_t> indices;
  const detail::PassSummary summary = decode_with(path, *skipper, indices);
  EXPECT_FALSE(summary.skipping_failed);
  EXPECT_EQ(summary.frames, 90);
  EXPECT_LT(summary.frames_decoded, 90);
  EXPECT_EQ(static_cast<int64_t>(indices.size()), summary.frames_decoded);
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()));
  EXPECT_NE(std::find(indices.begin(), indices.end(), 10), indices.end());
  EXPECT_NE(std::find(indices.begin(), indices.end(), 50), indices.end());
}

TEST(FrameSkippingPass, NoticesATimelineThatDoesNotMatchTheFrames) {
  const std::string path = data("rotated_display_90cw.mp4");
  PacketTimeline timeline = timeline_of(path);
  for (std::optional<int64_t>& pts : timeline.pts) *pts += 1;  // frames keep their own pts
  std::optional<FrameSkipper> skipper = FrameSkipper::plan(timeline, {10});
  ASSERT_TRUE(skipper.has_value());
  std::vector<int64_t> indices;
  EXPECT_TRUE(decode_with(path, *skipper, indices).skipping_failed);
}

TEST(LoadClip, SkippingUnsampledFramesKeepsEveryChosenFrame) {
  for (const char* file : {"rotated_display_90cw.mp4", "hevc_main10.mp4", "short_0.2s.mp4"}) {
    for (const int threads : {1, 2}) {
      SCOPED_TRACE(std::string(file) + ", threads " + std::to_string(threads));
      DecodeOptions options;
      options.threads = threads;
      const ClipResult<Clip> skipping = load_clip(data(file), options);
      options.skip_unsampled_frames = false;
      const ClipResult<Clip> every = load_clip(data(file), options);
      ASSERT_TRUE(skipping.ok());
      ASSERT_TRUE(every.ok());
      EXPECT_EQ(skipping->plan, every->plan);
      EXPECT_EQ(skipping->frames, every->frames);
      EXPECT_EQ(every->frames_decoded, every->plan.total_frames);
      EXPECT_LT(skipping->frames_decoded, skipping->plan.total_frames);
      EXPECT_GE(skipping->frames_decoded, skipping->plan.nframes);
    }
  }
}

TEST(LoadClip, CodecsWithoutCheckedSkippingDecodeEveryFrame) {
  const ClipResult<Clip> clip = load_clip(data("bear-vp9.webm"), DecodeOptions{});
  ASSERT_TRUE(clip.ok());
  EXPECT_EQ(clip->frames_decoded, clip->plan.total_frames);
}

}  // namespace
}  // namespace vcap::media
