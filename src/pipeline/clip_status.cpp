#include "pipeline/clip_status.h"

namespace vcap::pipeline {

const char* clip_status_name(ClipStatus status) {
  switch (status) {
    case ClipStatus::kOk:
      return "ok";
    case ClipStatus::kFitted:
      return "fitted";
    case ClipStatus::kNotFound:
      return "not_found";
    case ClipStatus::kIsDirectory:
      return "is_directory";
    case ClipStatus::kEmptyFile:
      return "empty_file";
    case ClipStatus::kIoError:
      return "io_error";
    case ClipStatus::kNotMedia:
      return "not_media";
    case ClipStatus::kNoVideo:
      return "no_video";
    case ClipStatus::kTruncated:
      return "truncated";
    case ClipStatus::kDecodeError:
      return "decode_error";
    case ClipStatus::kTooFewFrames:
      return "too_few_frames";
    case ClipStatus::kBadAspectRatio:
      return "bad_aspect_ratio";
    case ClipStatus::kTooLarge:
      return "too_large";
    case ClipStatus::kOom:
      return "oom";
    case ClipStatus::kTimeout:
      return "timeout";
    case ClipStatus::kUnsupported:
      return "unsupported";
    case ClipStatus::kInternal:
      return "internal";
  }
  return "internal";
}

std::optional<ClipStatus> parse_clip_status(std::string_view name) {
  for (ClipStatus status : kAllClipStatuses) {
    if (name == clip_status_name(status)) return status;
  }
  return std::nullopt;
}

std::string one_line(std::string_view message) {
  std::string line;
  line.reserve(message.size());
  bool pending_space = false;
  for (char c : message) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space) {
      pending_space = !line.empty();
      continue;
    }
    if (pending_space) line.push_back(' ');
    pending_space = false;
    line.push_back(c);
  }
  return line;
}

}  // namespace vcap::pipeline
