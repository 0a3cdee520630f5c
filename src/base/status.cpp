#include "base/status.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vcap {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfMemory: return "out_of_memory";
    case StatusCode::kTimeout: return "timeout";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

Status Status::from_errno(const std::string& context, int errno_value) {
  return io_error(context + ": " + std::strerror(errno_value));
}

Status Status::with_context(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

namespace detail {
void check_failed(const char* file, int line, const char* condition, const char* message) {
  std::fprintf(stderr, "vcap: internal error at %s:%d: check '%s' failed: %s\n", file, line,
               condition, message);
  std::abort();
}
}  // namespace detail

}  // namespace vcap
