// ClipStatus: the outcome of one clip, as written to the `caption_status` column.
//
// Every output row carries one. `ok` and `fitted` rows have a caption; every other status
// means the caption is empty and `caption_error` says why in one line. The names are stable:
// users filter on them, and journals store them.
#ifndef VCAP_PIPELINE_CLIP_STATUS_H_
#define VCAP_PIPELINE_CLIP_STATUS_H_

#include <optional>
#include <string>
#include <string_view>

namespace vcap::pipeline {

enum class ClipStatus {
  kOk,              // captioned with the requested settings
  kFitted,          // captioned after --fit lowered fps/pixels to meet the memory budget
  kNotFound,        // no file at the path (or an empty path)
  kIsDirectory,     // the path is a directory
  kEmptyFile,       // a zero-byte file
  kIoError,         // the OS refused to read it (permissions, I/O error)
  kNotMedia,        // not a container FFmpeg recognises
  kNoVideo,         // a media file without a video stream
  kTruncated,       // the file ends before its declared data
  kDecodeError,     // the video stream does not decode
  kTooFewFrames,    // fewer frames than the model needs
  kBadAspectRatio,  // longer side over 200 times the shorter
  kTooLarge,        // over the memory budget (see --max-memory / --fit)
  kOom,             // an allocation failed while captioning this clip
  kTimeout,         // decoding passed --decode-timeout
  kUnsupported,     // a codec or layout vcap cannot handle
  kInternal,        // a bug in vcap; the message says where
};

// Every status, in declaration order (for summaries and tests).
inline constexpr ClipStatus kAllClipStatuses[] = {
    ClipStatus::kOk,          ClipStatus::kFitted,       ClipStatus::kNotFound,
    ClipStatus::kIsDirectory, ClipStatus::kEmptyFile,    ClipStatus::kIoError,
    ClipStatus::kNotMedia,    ClipStatus::kNoVideo,      ClipStatus::kTruncated,
    ClipStatus::kDecodeError, ClipStatus::kTooFewFrames, ClipStatus::kBadAspectRatio,
    ClipStatus::kTooLarge,    ClipStatus::kOom,          ClipStatus::kTimeout,
    ClipStatus::kUnsupported, ClipStatus::kInternal,
};

// The column value: "ok", "fitted", "not_found", "is_directory", "empty_file", "io_error",
// "not_media", "no_video", "truncated", "decode_error", "too_few_frames", "bad_aspect_ratio",
// "too_large", "oom", "timeout", "unsupported", "internal".
const char* clip_status_name(ClipStatus status);

// Inverse of clip_status_name; nullopt for an unknown name.
std::optional<ClipStatus> parse_clip_status(std::string_view name);

// True when the row has a caption (ok or fitted).
inline bool has_caption(ClipStatus status) {
  return status == ClipStatus::kOk || status == ClipStatus::kFitted;
}

// A per-clip outcome: a status plus a one-line message (empty for ok).
struct ClipOutcome {
  ClipStatus status = ClipStatus::kOk;
  std::string message;

  bool ok() const { return status == ClipStatus::kOk; }
  static ClipOutcome failure(ClipStatus status, std::string message) {
    return {status, std::move(message)};
  }
};

// Collapses a message to one line (newlines and tabs become spaces, runs of spaces shrink)
// so that caption_error stays one line in every CSV viewer.
std::string one_line(std::string_view message);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CLIP_STATUS_H_
