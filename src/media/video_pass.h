// Internal to src/media: one pass over the video stream of a clip file, and the conversion of
// decoded frames to RGB24.
//
// VideoPass follows FFmpeg's doc/examples/demux_decode.c step by step: open the input, find the
// best video stream (cover art skipped), copy its parameters into a decoder context, open it
// with frame threading, then read packets and send/receive until EAGAIN/EOF, and flush with an
// empty packet. Every failure becomes a ClipError; FFmpeg's own log lines go to the clip's
// ClipContext (see ffmpeg_util.h), never to stderr. A pass reads the file once: to read it
// again, open a new pass.
#ifndef VCAP_MEDIA_VIDEO_PASS_H_
#define VCAP_MEDIA_VIDEO_PASS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "media/clip_error.h"
#include "media/ffmpeg_util.h"
#include "media/frame_skipping.h"

namespace vcap::media::detail {

struct StreamInfo {
  int64_t width = 0;        // coded size as stored (before rotation), from the codec parameters
  int64_t height = 0;
  int rotation_cw = 0;      // 0, 90, 180 or 270: clockwise turn the display matrix asks for
  double fps = 0;           // avg_frame_rate, else r_frame_rate; 0 when the stream has neither
  int64_t declared_frames = 0;  // the container's frame count (nb_frames), 0 when unknown
  std::string codec_name;
};

struct PassSettings {
  int threads = 0;  // decoder threads; 0 lets FFmpeg choose
  std::chrono::steady_clock::time_point deadline;
};

// What a pass saw.
struct PassSummary {
  int64_t packets = 0;        // video packets read (demux_only: minus those flagged discard)
  int64_t frames = 0;         // frames the stream decodes to (0 for demux_only): those output,
                              // plus, with a FrameSkipper, those skipped
  int64_t frames_decoded = 0;  // frames the decoder output
  int64_t decode_errors = 0;  // packets or frames the decoder rejected (decoding goes on)
  bool stopped = false;       // the visitor asked to stop early
  bool truncated = false;     // the data ended early or became unreadable
  std::string truncation;     // why `truncated` is set
  std::string last_error;     // FFmpeg's last error line for this clip, "" when none
  bool skipping_failed = false;  // with a FrameSkipper: the frames could not be numbered, and
                                 // the visitor saw wrong indices; decode again without one
  PacketTimeline timeline;       // demux_only
};

enum class FrameAction { kContinue, kStop };
// Called for each decoded frame in output order; index counts from 0. The frame is only valid
// during the call.
using FrameVisitor = std::function<FrameAction(int64_t index, const AVFrame& frame)>;

class VideoPass {
 public:
  // Checks the path, opens the container and the decoder of its best video stream.
  // Errors: kNotFound, kIsDirectory, kEmptyFile, kIoError, kNotMedia, kNoVideoStream,
  // kUnsupportedCodec, kTimeout.
  static ClipResult<VideoPass> open(const std::string& path, const PassSettings& settings);

  VideoPass(VideoPass&&) = default;
  VideoPass& operator=(VideoPass&&) = default;

  const StreamInfo& info() const { return info_; }

  // Reads every packet without decoding (fast: a frame-count estimate). Error: kTimeout.
  ClipResult<PassSummary> demux_only();

  // Decodes every frame (or until `visit` returns kStop). Damage is reported in the summary
  // (truncated, decode_errors), not as an error. With a `skipper` (from this file's timeline)
  // the frames it allows are skipped and output frames are numbered by timestamp; see
  // skipping_failed. Error: kTimeout.
  ClipResult<PassSummary> decode(const FrameVisitor& visit, FrameSkipper* skipper = nullptr);

 private:
  VideoPass() = default;
  ClipError error(ClipErrorKind kind, const std::string& reason) const;
  ClipError timeout_error(const PassSummary& summary) const;
  // Reads the next video packet into packet_; false at the end of the data (or on a read
  // error, recorded in `summary`).
  bool read_video_packet(PassSummary& summary);
  void send_and_receive(const AVPacket* packet, const FrameVisitor& visit, FrameSkipper* skipper,
                        PassSummary& summary);

  std::string path_;
  std::unique_ptr<ClipContext> clip_;  // first: FFmpeg's contexts point to it
  FormatPtr format_;
  CodecContextPtr codec_;
  PacketPtr packet_;
  FramePtr frame_;
  int stream_index_ = -1;
  StreamInfo info_;
  // The truncation recorded is a damaged video packet, which whole packets after it would show
  // to be damage within the data instead (an MPEG-TS continuity error).
  bool truncated_at_damaged_packet_ = false;
};

// A decoded frame as packed RGB24 (valid until the next convert()).
struct RgbView {
  const uint8_t* data = nullptr;
  ptrdiff_t stride = 0;  // bytes between rows
  int64_t height = 0;
  int64_t width = 0;
};

// Converts decoded frames to RGB24 at their own size exactly as PyAV 10's
// VideoFrame.to_ndarray(format="rgb24") does: sws_getCachedContext with SWS_BILINEAR and
// libswscale's default colour details (BT.601 matrix; full range for yuvj formats, limited
// otherwise), into a 16-byte aligned buffer.
class RgbConverter {
 public:
  // Error: kUnsupportedCodec when libswscale cannot convert the frame's pixel format.
  ClipResult<RgbView> convert(const AVFrame& frame);

 private:
  SwsPtr sws_;
  AvBufferPtr buffer_;
  int64_t buffer_bytes_ = 0;
};

}  // namespace vcap::media::detail

#endif  // VCAP_MEDIA_VIDEO_PASS_H_
