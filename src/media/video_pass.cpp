#include "media/video_pass.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>

extern "C" {
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
}

namespace vcap::media::detail {
namespace {

// The largest frames decoded: 8K (7680x4320, 8192x4320) and anything up to a square of 8192.
constexpr int64_t kMaxFrameSide = 8192;
constexpr int64_t kMaxFramePixels = kMaxFrameSide * kMaxFrameSide;

// Clockwise degrees (0/90/180/270) from the stream's display matrix, if any.
int display_rotation_cw(const AVStream& stream) {
  const uint8_t* matrix = av_stream_get_side_data(&stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (matrix == nullptr) return 0;
  // av_display_rotation_get gives the counter-clockwise angle; NaN for a degenerate matrix.
  const double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (!std::isfinite(ccw)) return 0;
  const long quarter_turns = std::lround(-ccw / 90.0);
  return static_cast<int>(((quarter_turns % 4) + 4) % 4) * 90;
}

double stream_fps(const AVStream& stream) {
  for (AVRational rate : {stream.avg_frame_rate, stream.r_frame_rate}) {
    if (rate.num > 0 && rate.den > 0) return av_q2d(rate);
  }
  return 0.0;
}

// "audio aac, subtitle mov_text" for the no-video message.
std::string describe_streams(const AVFormatContext& format) {
  std::string text;
  for (unsigned i = 0; i < format.nb_streams; ++i) {
    const AVCodecParameters& par = *format.streams[i]->codecpar;
    const char* type = av_get_media_type_string(par.codec_type);
    if (!text.empty()) text += ", ";
    text += std::string(type != nullptr ? type : "unknown") + " " + avcodec_get_name(par.codec_id);
  }
  return text.empty() ? "none" : text;
}

bool is_cover_art(const AVStream& stream) {
  return (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
}

int find_video_stream(AVFormatContext& format) {
  const int best = av_find_best_stream(&format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (best >= 0 && !is_cover_art(*format.streams[best])) return best;
  for (unsigned i = 0; i < format.nb_streams; ++i) {
    const AVStream& stream = *format.streams[i];
    if (stream.codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !is_cover_art(stream)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// The path checks FFmpeg would report less clearly ("Is a directory" comes out of
// avformat_open_input as an I/O error; an empty file as invalid data).
std::optional<ClipError> check_path(const std::string& path) {
  auto fail = [&](ClipErrorKind kind, const std::string& reason) {
    return ClipError(kind, "media: " + path + ": " + reason);
  };
  struct stat info {};
  if (path.empty()) return fail(ClipErrorKind::kNotFound, "empty path");
  if (::stat(path.c_str(), &info) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return fail(ClipErrorKind::kNotFound, "no such file");
    return fail(ClipErrorKind::kIoError, std::strerror(err));
  }
  if (S_ISDIR(info.st_mode)) return fail(ClipErrorKind::kIsDirectory, "is a directory");
  if (!S_ISREG(info.st_mode)) return fail(ClipErrorKind::kNotMedia, "not a regular file");
  if (info.st_size == 0) return fail(ClipErrorKind::kEmptyFile, "empty file (0 bytes)");
  if (::access(path.c_str(), R_OK) != 0) {
    return fail(ClipErrorKind::kIoError, std::strerror(errno));
  }
  return std::nullopt;
}

}  // namespace

ClipError VideoPass::error(ClipErrorKind kind, const std::string& reason) const {
  std::string message = "media: " + path_ + ": " + reason;
  const std::string ffmpeg = clip_ != nullptr ? clip_->last_error() : std::string();
  if (!ffmpeg.empty() && reason.find(ffmpeg) == std::string::npos) {
    message += " (FFmpeg: " + ffmpeg + ")";
  }
  return ClipError(kind, message);
}

ClipError VideoPass::timeout_error(const PassSummary& summary) const {
  return ClipError(ClipErrorKind::kTimeout,
                   "media: " + path_ + ": decode deadline passed after " +
                       std::to_string(summary.frames) + " frame(s)");
}

ClipResult<VideoPass> VideoPass::open(const std::string& path, const PassSettings& settings) {
  if (auto bad = check_path(path)) return *bad;
  install_log_router();
  VideoPass pass;
  pass.path_ = path;
  pass.clip_ = std::make_unique<ClipContext>(settings.deadline);

  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return pass.error(ClipErrorKind::kIoError, "out of memory");
  raw->opaque = pass.clip_.get();
  raw->interrupt_callback = pass.clip_->interrupt_callback();
  // Through the file protocol, and only it: FFmpeg reads "cam1:0930.mp4" as protocol "cam1",
  // "pipe:x.mp4" as standard input; a playlist inside a clip may name only local files.
  AVDictionary* open_options = nullptr;
  av_dict_set(&open_options, "protocol_whitelist", "file", 0);
  // An HLS playlist without its end tag (a recorder that stopped) reads as a live stream:
  // FFmpeg would start at its last three segments and wait up to 1000 reloads for more. A file
  // on disk is all there is: read it from the start, and give up after the second unchanged
  // reload (at the first, FFmpeg 5.1 has not loaded the first segment yet).
  av_dict_set(&open_options, "live_start_index", "0", 0);
  av_dict_set(&open_options, "m3u8_hold_counters", "2", 0);
  const std::string url = "file:" + path;
  int ret = avformat_open_input(&raw, url.c_str(), nullptr, &open_options);  // frees raw on failure
  av_dict_free(&open_options);
  if (ret < 0) {
    if (pass.clip_->expired()) return pass.timeout_error({});
    if (ret == AVERROR(ENOENT)) return pass.error(ClipErrorKind::kNotFound, "no such file");
    if (ret == AVERROR(EACCES) || ret == AVERROR(EIO)) {
      return pass.error(ClipErrorKind::kIoError, av_error_string(ret));
    }
    return pass.error(ClipErrorKind::kNotMedia, "not a media file (" + av_error_string(ret) + ")");
  }
  pass.format_.reset(raw);
  ret = avformat_find_stream_info(pass.format_.get(), nullptr);
  if (ret < 0) {
    if (pass.clip_->expired()) return pass.timeout_error({});
    return pass.error(ClipErrorKind::kNotMedia,
                      "cannot read stream information (" + av_error_string(ret) + ")");
  }
  pass.stream_index_ = find_video_stream(*pass.format_);
  if (pass.stream_index_ < 0) {
    return pass.error(ClipErrorKind::kNoVideoStream,
                      "no video stream (streams: " + describe_streams(*pass.format_) + ")");
  }
  const AVStream& stream = *pass.format_->streams[pass.stream_index_];
  const AVCodecParameters& par = *stream.codecpar;
  pass.info_ = StreamInfo{par.width,          par.height,      display_rotation_cw(stream),
                          stream_fps(stream), stream.nb_frames, avcodec_get_name(par.codec_id)};

  // FFmpeg accepts frames of up to 2^28 pixels: a crafted header of 16000x16000 makes each
  // decoder thread hold 384 MB frames, which no memory budget counts (it counts resized
  // frames), and the run would be killed for memory rather than the clip refused.
  if (int64_t{par.width} * par.height > kMaxFramePixels) {
    return pass.error(ClipErrorKind::kUnsupportedCodec,
                      "frames of " + std::to_string(par.width) + "x" + std::to_string(par.height) +
                          " are over the " + std::to_string(kMaxFrameSide) + "x" +
                          std::to_string(kMaxFrameSide) + " pixels vcap decodes");
  }
  const AVCodec* decoder = avcodec_find_decoder(par.codec_id);
  if (decoder == nullptr) {
    return pass.error(ClipErrorKind::kUnsupportedCodec,
                      "no decoder for video codec '" + pass.info_.codec_name + "'");
  }
  pass.codec_.reset(avcodec_alloc_context3(decoder));
  if (pass.codec_ == nullptr || avcodec_parameters_to_context(pass.codec_.get(), &par) < 0) {
    return pass.error(ClipErrorKind::kUnsupportedCodec, "cannot set up the decoder");
  }
  pass.codec_->opaque = pass.clip_.get();
  pass.codec_->pkt_timebase = stream.time_base;
  pass.codec_->thread_count = settings.threads;
  pass.codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  pass.codec_->max_pixels = kMaxFramePixels;  // a size change in the stream is refused too
  ret = avcodec_open2(pass.codec_.get(), decoder, nullptr);
  if (ret < 0) {
    return pass.error(ClipErrorKind::kUnsupportedCodec, "cannot open the " +
                                                            pass.info_.codec_name + " decoder (" +
                                                            av_error_string(ret) + ")");
  }
  pass.packet_.reset(av_packet_alloc());
  pass.frame_.reset(av_frame_alloc());
  if (pass.packet_ == nullptr || pass.frame_ == nullptr) {
    return pass.error(ClipErrorKind::kIoError, "out of memory");
  }
  return pass;
}

bool VideoPass::read_video_packet(PassSummary& summary) {
  while (true) {
    const int ret = av_read_frame(format_.get(), packet_.get());
    if (ret == AVERROR_EOF) {
      if (clip_->container_ended_early() && !summary.truncated) {
        summary.truncated = true;
        summary.truncation = "the file ends before its container does, after " +
                             std::to_string(summary.packets) + " video packet(s)";
      }
      return false;
    }
    if (ret < 0) {
      // A read error before the end (cut or damaged data): what was read stays usable.
      summary.truncated = true;
      summary.truncation = "data unreadable after " + std::to_string(summary.packets) +
                           " video packet(s): " + av_error_string(ret);
      return false;
    }
    if (packet_->stream_index == stream_index_) {
      ++summary.packets;
      const bool damaged = (packet_->flags & AV_PKT_FLAG_CORRUPT) != 0;
      if (damaged && !summary.truncated) {
        // av_get_packet flags a packet whose bytes end before its declared size.
        summary.truncated = true;
        summary.truncation = "data ends inside video packet " + std::to_string(summary.packets);
        truncated_at_damaged_packet_ = true;
      } else if (!damaged && truncated_at_damaged_packet_) {
        // Whole packets follow: the data did not end there. The MPEG-TS demuxer flags a packet
        // one of whose transport packets was lost; the decoder copes, as it does for the
        // reference.
        summary.truncated = false;
        summary.truncation.clear();
        truncated_at_damaged_packet_ = false;
      }
      return true;
    }
    av_packet_unref(packet_.get());
  }
}

ClipResult<PassSummary> VideoPass::demux_only() {
  PassSummary summary;
  PacketTimeline& timeline = summary.timeline;
  timeline.codec_name = info_.codec_name;
  const AVCodecParameters& par = *format_->streams[stream_index_]->codecpar;
  if (par.codec_id == AV_CODEC_ID_HEVC) {
    timeline.temporal_layers =
        hevc_temporal_layers(par.extradata, static_cast<size_t>(std::max(0, par.extradata_size)));
  }
  while (read_video_packet(summary)) {
    if ((packet_->flags & AV_PKT_FLAG_DISCARD) != 0) {
      // Packets outside an MP4 edit list decode to frames the decoder drops: not counted.
      --summary.packets;
      timeline.has_discarded_packets = true;
    } else {
      if ((packet_->flags & AV_PKT_FLAG_KEY) != 0 && timeline.first_keyframe < 0) {
        timeline.first_keyframe = static_cast<int64_t>(timeline.pts.size());
      }
      timeline.pts.push_back(packet_->pts != AV_NOPTS_VALUE ? std::optional(packet_->pts)
                                                            : std::nullopt);
    }
    av_packet_unref(packet_.get());
    if (clip_->expired()) return timeout_error(summary);
  }
  if (clip_->expired()) return timeout_error(summary);
  timeline.truncated = summary.truncated;
  summary.last_error = clip_->last_error();
  return summary;
}

void VideoPass::send_and_receive(const AVPacket* packet, const FrameVisitor& visit,
                                 FrameSkipper* skipper, PassSummary& summary) {
  int ret = avcodec_send_packet(codec_.get(), packet);
  if (ret < 0 && ret != AVERROR_EOF) ++summary.decode_errors;  // the decoder skips it
  while (!summary.stopped) {
    ret = avcodec_receive_frame(codec_.get(), frame_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    if (ret < 0) {
      ++summary.decode_errors;
      return;
    }
    ++summary.frames_decoded;
    std::optional<int64_t> index = summary.frames++;
    if (skipper != nullptr) {
      index = skipper->index_of(frame_->pts != AV_NOPTS_VALUE ? std::optional(frame_->pts)
                                                              : std::nullopt);
    }
    if (!index) {
      summary.skipping_failed = true;
      summary.stopped = true;
    } else if (visit(*index, *frame_) == FrameAction::kStop) {
      summary.stopped = true;
    }
    av_frame_unref(frame_.get());
  }
}

ClipResult<PassSummary> VideoPass::decode(const FrameVisitor& visit, FrameSkipper* skipper) {
  PassSummary summary;
  while (!summary.stopped && read_video_packet(summary)) {
    if (skipper != nullptr) {
      // Read for each packet as it is sent, by frame threads too (update_context_from_user).
      codec_->skip_frame =
          skipper->skippable(summary.packets - 1) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    }
    send_and_receive(packet_.get(), visit, skipper, summary);
    av_packet_unref(packet_.get());
    if (clip_->expired()) return timeout_error(summary);
  }
  if (!summary.stopped) send_and_receive(nullptr, visit, skipper, summary);  // delayed frames
  if (clip_->expired()) return timeout_error(summary);
  summary.last_error = clip_->last_error();
  if (skipper != nullptr && !summary.skipping_failed) {
    summary.skipping_failed = summary.truncated || summary.decode_errors > 0 ||
                              summary.packets != skipper->frames() ||
                              !skipper->every_decoded_frame_seen();
    summary.frames = skipper->frames();
  }
  return summary;
}

ClipResult<RgbView> RgbConverter::convert(const AVFrame& frame) {
  const auto format = static_cast<AVPixelFormat>(frame.format);
  sws_.reset(sws_getCachedContext(sws_.release(), frame.width, frame.height, format, frame.width,
                                  frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr,
                                  nullptr));
  if (sws_ == nullptr) {
    const char* name = av_get_pix_fmt_name(format);
    return ClipError(ClipErrorKind::kUnsupportedCodec,
                     std::string("media: cannot convert pixel format ") +
                         (name != nullptr ? name : "unknown") + " to RGB");
  }
  // PyAV allocates its output with av_image_alloc(..., align = 16); same stride here.
  const int stride = FFALIGN(frame.width * 3, 16);
  const int64_t bytes = static_cast<int64_t>(stride) * frame.height;
  if (bytes > buffer_bytes_) {
    buffer_.reset(static_cast<uint8_t*>(av_malloc(static_cast<size_t>(bytes))));
    buffer_bytes_ = buffer_ != nullptr ? bytes : 0;
    if (buffer_ == nullptr) {
      return ClipError(ClipErrorKind::kIoError, "media: out of memory for an RGB frame");
    }
  }
  uint8_t* dst[4] = {buffer_.get(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {stride, 0, 0, 0};
  sws_scale(sws_.get(), frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  return RgbView{buffer_.get(), stride, frame.height, frame.width};
}

}  // namespace vcap::media::detail
