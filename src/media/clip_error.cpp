#include "media/clip_error.h"

namespace vcap::media {

const char* clip_error_kind_name(ClipErrorKind kind) {
  switch (kind) {
    case ClipErrorKind::kNotFound: return "not_found";
    case ClipErrorKind::kIsDirectory: return "is_directory";
    case ClipErrorKind::kEmptyFile: return "empty_file";
    case ClipErrorKind::kIoError: return "io_error";
    case ClipErrorKind::kNotMedia: return "not_media";
    case ClipErrorKind::kNoVideoStream: return "no_video_stream";
    case ClipErrorKind::kUnsupportedCodec: return "unsupported_codec";
    case ClipErrorKind::kTruncated: return "truncated";
    case ClipErrorKind::kDecodeError: return "decode_error";
    case ClipErrorKind::kTooFewFrames: return "too_few_frames";
    case ClipErrorKind::kBadAspectRatio: return "bad_aspect_ratio";
    case ClipErrorKind::kTimeout: return "timeout";
    case ClipErrorKind::kInvalidOptions: return "invalid_options";
  }
  return "unknown";
}

StatusCode clip_error_status_code(ClipErrorKind kind) {
  switch (kind) {
    case ClipErrorKind::kNotFound: return StatusCode::kNotFound;
    case ClipErrorKind::kIsDirectory:
    case ClipErrorKind::kEmptyFile:
    case ClipErrorKind::kNotMedia:
    case ClipErrorKind::kNoVideoStream:
    case ClipErrorKind::kTooFewFrames:
    case ClipErrorKind::kBadAspectRatio:
    case ClipErrorKind::kInvalidOptions: return StatusCode::kInvalidArgument;
    case ClipErrorKind::kIoError: return StatusCode::kIoError;
    case ClipErrorKind::kUnsupportedCodec: return StatusCode::kUnsupported;
    case ClipErrorKind::kTruncated:
    case ClipErrorKind::kDecodeError: return StatusCode::kCorruption;
    case ClipErrorKind::kTimeout: return StatusCode::kTimeout;
  }
  return StatusCode::kInternal;
}

}  // namespace vcap::media
