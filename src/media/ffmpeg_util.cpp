#include "media/ffmpeg_util.h"

#include <cstdarg>
#include <cstdio>

namespace vcap::media::detail {
namespace {

int interrupt_if_expired(void* opaque) {
  return static_cast<const ClipContext*>(opaque)->expired() ? 1 : 0;
}

ClipContext* clip_context_of(void* avcl) {
  if (avcl == nullptr) return nullptr;
  const AVClass* cls = *static_cast<const AVClass* const*>(avcl);
  void* opaque = nullptr;
  if (cls == avcodec_get_class()) {
    opaque = static_cast<AVCodecContext*>(avcl)->opaque;
  } else if (cls == avformat_get_class()) {
    opaque = static_cast<AVFormatContext*>(avcl)->opaque;
  }
  if (opaque == nullptr) return nullptr;
  auto* clip = static_cast<ClipContext*>(opaque);
  return clip->tag == ClipContext::kTag ? clip : nullptr;
}

void route_log(void* avcl, int level, const char* format, va_list args) {
  if (level > AV_LOG_ERROR) return;
  ClipContext* clip = clip_context_of(avcl);
  if (clip == nullptr) return;
  char line[512];
  std::vsnprintf(line, sizeof(line), format, args);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (!text.empty()) clip->record_error(text);
}

}  // namespace

std::string av_error_string(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(error, text, sizeof(text));
  return text;
}

ClipContext::ClipContext(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}

AVIOInterruptCB ClipContext::interrupt_callback() {
  return AVIOInterruptCB{&interrupt_if_expired, this};
}

// matroskadec's error when an element reaches past the end of the file; no return value or
// packet flag says so (the MP4 and MPEG-PS demuxers flag the cut packet instead).
constexpr const char* kContainerEndedEarly = "File ended prematurely";

void ClipContext::record_error(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = line;
  ++error_count_;
  if (line == kContainerEndedEarly) container_ended_early_ = true;
}

std::string ClipContext::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

int64_t ClipContext::error_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_count_;
}

bool ClipContext::container_ended_early() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return container_ended_early_;
}

void install_log_router() {
  // A function-local constant: initialised once, thread-safely, on first use.
  static const bool kInstalled = [] {
    av_log_set_callback(&route_log);
    return true;
  }();
  (void)kInstalled;
}

}  // namespace vcap::media::detail
