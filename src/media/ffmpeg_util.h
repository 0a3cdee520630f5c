// Internal to src/media: RAII owners for FFmpeg handles, error strings, and the log router
// that keeps FFmpeg quiet while remembering the last error line of each clip.
#ifndef VCAP_MEDIA_FFMPEG_UTIL_H_
#define VCAP_MEDIA_FFMPEG_UTIL_H_

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace vcap::media::detail {

struct FormatCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecContextFreer {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct SwsFreer {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct AvFreer {
  void operator()(uint8_t* p) const { av_free(p); }
};

using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using SwsPtr = std::unique_ptr<SwsContext, SwsFreer>;
using AvBufferPtr = std::unique_ptr<uint8_t, AvFreer>;

// av_strerror as a std::string ("Invalid data found when processing input").
std::string av_error_string(int error);

// Per-clip state that FFmpeg calls back into: the decode deadline (AVIOInterruptCB) and the
// last error line FFmpeg logged for this clip. Its address is given to FFmpeg (the format and
// codec contexts' `opaque`, the interrupt callback), so it must outlive those contexts and
// must not move: hold it in a unique_ptr. Frame-threading workers log concurrently, hence
// the mutex.
class ClipContext {
 public:
  // Set in every ClipContext; the log router checks it before trusting an `opaque` pointer.
  static constexpr uint64_t kTag = 0x7663617063746bULL;
  const uint64_t tag = kTag;

  explicit ClipContext(std::chrono::steady_clock::time_point deadline);
  ClipContext(const ClipContext&) = delete;
  ClipContext& operator=(const ClipContext&) = delete;

  bool expired() const { return std::chrono::steady_clock::now() > deadline_; }
  // The interrupt callback for AVFormatContext::interrupt_callback.
  AVIOInterruptCB interrupt_callback();

  void record_error(const std::string& line);
  // "" when FFmpeg logged no error for this clip.
  std::string last_error() const;
  int64_t error_count() const;
  // The demuxer found the file shorter than its container says (a Matroska/WebM file cut
  // inside its clusters): it ends the packets there as if the data were whole.
  bool container_ended_early() const;

 private:
  std::chrono::steady_clock::time_point deadline_;
  mutable std::mutex mutex_;
  std::string last_error_;
  int64_t error_count_ = 0;
  bool container_ended_early_ = false;
};

// Routes FFmpeg's log output (process-wide, installed once): error lines from a format or codec
// context whose `opaque` is a ClipContext go to that clip; everything else is dropped, so the
// library never prints.
void install_log_router();

}  // namespace vcap::media::detail

#endif  // VCAP_MEDIA_FFMPEG_UTIL_H_
