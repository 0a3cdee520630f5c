#include "media/synthetic_clip.h"

extern "C" {
#include <libavutil/opt.h>
}

#include <system_error>

#include "media/ffmpeg_util.h"

namespace vcap::media {
namespace {

namespace fs = std::filesystem;

// An output AVFormatContext with its file (FormatCloser is for inputs).
struct OutputCloser {
  void operator()(AVFormatContext* p) const {
    if (p->pb != nullptr && (p->oformat->flags & AVFMT_NOFILE) == 0) avio_closep(&p->pb);
    avformat_free_context(p);
  }
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputCloser>;

Status av_failure(const std::string& what, int error, const fs::path& path) {
  return Status::io_error(path.string() + ": " + what + ": " + detail::av_error_string(error));
}

// A pattern that moves every frame (so the encoder sees real motion): diagonal luma ramps, a
// bright square crossing the frame, and slowly rotating chroma.
void paint(AVFrame& frame, int index) {
  const int w = frame.width, h = frame.height;
  const int box = h / 4;
  const int box_x = (index * 8) % (w - box), box_y = (h - box) / 2;
  for (int y = 0; y < h; ++y) {
    uint8_t* row = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    for (int x = 0; x < w; ++x) {
      const bool in_box = x >= box_x && x < box_x + box && y >= box_y && y < box_y + box;
      row[x] = in_box ? 235 : static_cast<uint8_t>(16 + ((x + y + 4 * index) & 127));
    }
  }
  for (int y = 0; y < h / 2; ++y) {
    uint8_t* u = frame.data[1] + static_cast<ptrdiff_t>(y) * frame.linesize[1];
    uint8_t* v = frame.data[2] + static_cast<ptrdiff_t>(y) * frame.linesize[2];
    for (int x = 0; x < w / 2; ++x) {
      u[x] = static_cast<uint8_t>(64 + ((x + index) & 127));
      v[x] = static_cast<uint8_t>(64 + ((y * 2 + 3 * index) & 127));
    }
  }
}

const AVCodec* pick_encoder() {
  if (const AVCodec* h264 = avcodec_find_encoder_by_name("libx264")) return h264;
  return avcodec_find_encoder(AV_CODEC_ID_MPEG4);
}

// Sends `frame` (nullptr: flush) and writes every packet the encoder gives back.
Status encode(AVCodecContext& encoder, AVFormatContext& output, AVStream& stream,
              const AVFrame* frame, const fs::path& path) {
  if (int error = avcodec_send_frame(&encoder, frame); error < 0)
    return av_failure("encoding failed", error, path);
  detail::PacketPtr packet(av_packet_alloc());
  if (!packet) return Status::out_of_memory("cannot allocate a packet");
  while (true) {
    const int error = avcodec_receive_packet(&encoder, packet.get());
    if (error == AVERROR(EAGAIN) || error == AVERROR_EOF) return Status::ok_status();
    if (error < 0) return av_failure("encoding failed", error, path);
    // Every frame lasts one tick; without it the last packet has no duration, and MP4's edit
    // list then ends before the last frame (decoders drop it).
    if (packet->duration == 0) packet->duration = 1;
    av_packet_rescale_ts(packet.get(), encoder.time_base, stream.time_base);
    packet->stream_index = stream.index;
    if (int written = av_interleaved_write_frame(&output, packet.get()); written < 0)
      return av_failure("cannot write", written, path);
  }
}

Result<detail::CodecContextPtr> open_encoder(const AVCodec& codec, const SyntheticClipSpec& spec,
                                             bool global_header) {
  detail::CodecContextPtr encoder(avcodec_alloc_context3(&codec));
  if (!encoder) return Status::out_of_memory("cannot allocate an encoder");
  encoder->width = spec.width;
  encoder->height = spec.height;
  encoder->time_base = AVRational{1, spec.fps};
  encoder->framerate = AVRational{spec.fps, 1};
  encoder->pix_fmt = AV_PIX_FMT_YUV420P;
  encoder->gop_size = spec.fps;
  encoder->bit_rate = 4'000'000;  // used by mpeg4; libx264 uses its crf below
  if (global_header) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (codec.id == AV_CODEC_ID_H264) {
    av_opt_set(encoder->priv_data, "preset", "veryfast", 0);
    av_opt_set(encoder->priv_data, "crf", "23", 0);
  }
  if (int error = avcodec_open2(encoder.get(), &codec, nullptr); error < 0)
    return Status::unsupported(std::string("cannot open encoder ") + codec.name + ": " +
                               detail::av_error_string(error));
  return encoder;
}

Status write_to(const fs::path& path, const SyntheticClipSpec& spec, const AVCodec& codec) {
  AVFormatContext* raw_output = nullptr;
  if (int error = avformat_alloc_output_context2(&raw_output, nullptr, nullptr, path.c_str());
      error < 0 || raw_output == nullptr)
    return av_failure("no container for this extension", error, path);
  OutputPtr output(raw_output);
  Result<detail::CodecContextPtr> encoder =
      open_encoder(codec, spec, (output->oformat->flags & AVFMT_GLOBALHEADER) != 0);
  if (!encoder) return encoder.status();
  AVStream* stream = avformat_new_stream(output.get(), nullptr);
  if (stream == nullptr) return Status::out_of_memory("cannot add a stream");
  stream->time_base = (*encoder)->time_base;
  stream->avg_frame_rate = (*encoder)->framerate;
  if (int error = avcodec_parameters_from_context(stream->codecpar, encoder->get()); error < 0)
    return av_failure("bad encoder parameters", error, path);
  if (int error = avio_open(&output->pb, path.c_str(), AVIO_FLAG_WRITE); error < 0)
    return av_failure("cannot open for writing", error, path);
  if (int error = avformat_write_header(output.get(), nullptr); error < 0)
    return av_failure("cannot write the header", error, path);
  detail::FramePtr frame(av_frame_alloc());
  if (!frame) return Status::out_of_memory("cannot allocate a frame");
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = spec.width;
  frame->height = spec.height;
  if (int error = av_frame_get_buffer(frame.get(), 0); error < 0)
    return Status::out_of_memory("cannot allocate frame buffers");
  const auto frames = static_cast<int>(spec.seconds * spec.fps + 0.5);
  for (int i = 0; i < frames; ++i) {
    if (int error = av_frame_make_writable(frame.get()); error < 0)
      return Status::out_of_memory("cannot make a frame writable");
    paint(*frame, i);
    frame->pts = i;
    if (Status s = encode(**encoder, *output, *stream, frame.get(), path); !s.ok()) return s;
  }
  if (Status s = encode(**encoder, *output, *stream, nullptr, path); !s.ok()) return s;
  if (int error = av_write_trailer(output.get()); error < 0)
    return av_failure("cannot finish the file", error, path);
  return Status::ok_status();
}

}  // namespace

Result<std::string> write_synthetic_clip(const fs::path& path, const SyntheticClipSpec& spec) {
  if (spec.width <= 0 || spec.height <= 0 || spec.width % 2 != 0 || spec.height % 2 != 0)
    return Status::invalid_argument("synthetic clip size " + std::to_string(spec.width) + "x" +
                                    std::to_string(spec.height) + ": want even positive sides");
  if (spec.fps <= 0 || !(spec.seconds > 0) || spec.seconds * spec.fps < 1)
    return Status::invalid_argument("synthetic clip: want fps > 0 and at least one frame");
  detail::install_log_router();
  const AVCodec* codec = pick_encoder();
  if (codec == nullptr) return Status::unsupported("this FFmpeg has neither libx264 nor mpeg4");
  const fs::path partial =
      path.parent_path() / ("." + path.stem().string() + ".partial" + path.extension().string());
  Status written = write_to(partial, spec, *codec);
  std::error_code error;
  if (written.ok()) {
    fs::rename(partial, path, error);
    if (!error) return std::string(codec->name);
    written = Status::from_errno("cannot rename " + partial.string(), error.value());
  }
  fs::remove(partial, error);
  return written;
}

}  // namespace vcap::media
