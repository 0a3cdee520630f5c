// ClipError and ClipResult<T>: why a video clip could not be turned into frames.
//
// Every media entry point returns a ClipResult. On failure it carries a ClipErrorKind (stable,
// machine-readable: the pipeline maps it to the row's caption_status) and a one-line message
// that names the file and the reason, e.g.
//   "media: clips/a.mp4: no video stream (streams: audio aac)".
// status() gives the same failure as a vcap::Status for callers that only propagate errors.
// Bad input never crashes, aborts or prints: it becomes one of these.
#ifndef VCAP_MEDIA_CLIP_ERROR_H_
#define VCAP_MEDIA_CLIP_ERROR_H_

#include <string>
#include <utility>
#include <variant>

#include "base/check.h"
#include "base/status.h"

namespace vcap::media {

enum class ClipErrorKind {
  kNotFound,          // no file at the path
  kIsDirectory,       // the path is a directory
  kEmptyFile,         // a zero-byte file
  kIoError,           // the OS refused to read it (permissions, I/O error)
  kNotMedia,          // FFmpeg recognises no container in it
  kNoVideoStream,     // a container without a (non cover-art) video stream
  kUnsupportedCodec,  // a video stream FFmpeg has no decoder for, or cannot open
  kTruncated,         // the data ends before what the container declares
  kDecodeError,       // the video stream does not decode (no frame, or no frame rate)
  kTooFewFrames,      // fewer frames than sampling needs (spec §6.3: nframes < 2)
  kBadAspectRatio,    // longer side over 200 times the shorter (spec §6.5)
  kTimeout,           // the per-clip decode deadline passed
  kInvalidOptions,    // a DecodeOptions value out of range (a caller bug or a bad flag)
};

// Stable snake_case name: "not_found", "is_directory", "empty_file", "io_error", "not_media",
// "no_video_stream", "unsupported_codec", "truncated", "decode_error", "too_few_frames",
// "bad_aspect_ratio", "timeout", "invalid_options".
const char* clip_error_kind_name(ClipErrorKind kind);

// The vcap::StatusCode a kind maps to (e.g. kTruncated -> kCorruption, kTimeout -> kTimeout).
StatusCode clip_error_status_code(ClipErrorKind kind);

class ClipError {
 public:
  ClipError(ClipErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ClipErrorKind kind() const { return kind_; }
  // One line: "media: <path>: <reason>".
  const std::string& message() const { return message_; }
  // The same failure as a Status (code from clip_error_status_code).
  Status status() const { return Status(clip_error_status_code(kind_), message_); }

 private:
  ClipErrorKind kind_;
  std::string message_;
};

// A value of type T or the ClipError that explains why there is none.
template <typename T>
class [[nodiscard]] ClipResult {
 public:
  ClipResult(T value) : state_(std::move(value)) {}           // NOLINT: implicit by design
  ClipResult(ClipError error) : state_(std::move(error)) {}   // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: !ok().
  const ClipError& error() const {
    VCAP_CHECK(!ok(), "error() of a successful ClipResult");
    return std::get<ClipError>(state_);
  }
  // The failure as a Status; an ok Status when there is a value.
  Status status() const { return ok() ? Status() : error().status(); }

  // REQUIRES: ok().
  T& value() & { return checked(), std::get<T>(state_); }
  const T& value() const& { return checked(), std::get<T>(state_); }
  T&& value() && { return checked(), std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void checked() const {
    VCAP_CHECK(ok(), ("value() of a failed ClipResult: " + error().message()).c_str());
  }
  std::variant<T, ClipError> state_;
};

}  // namespace vcap::media

#endif  // VCAP_MEDIA_CLIP_ERROR_H_
