// Status and Result<T>: how errors cross module boundaries in vcap.
//
// A Status is a code plus a one-line message that says what failed, where and why
// ("media: clips/a.mp4: no video stream (av_find_best_stream: Stream not found)").
// Result<T> holds either a value or a non-ok Status. Both are cheap to move.
// Leaf modules never print: they return one of these and the caller decides.
#ifndef VCAP_BASE_STATUS_H_
#define VCAP_BASE_STATUS_H_

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "base/check.h"

namespace vcap {

enum class StatusCode {
  kOk,
  kInvalidArgument,  // bad input from the user (a flag, a CSV, a config)
  kNotFound,         // a file, tensor, column or key that is absent
  kIoError,          // the OS refused (open, read, write, rename)
  kCorruption,       // bytes that do not parse (truncated file, bad header)
  kUnsupported,      // valid input we cannot handle (codec, dtype, build without CUDA)
  kOutOfMemory,      // an allocation or a memory budget failed
  kTimeout,          // a deadline passed
  kInternal,         // a bug in vcap: should never be seen
};

// Stable lower-case name of a code ("invalid_argument"), used in messages and CSV columns.
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status out_of_memory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }
  static Status timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  // An io_error whose message ends with strerror(errno_value).
  static Status from_errno(const std::string& context, int errno_value);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // The same status with "context: " put in front of the message.
  Status with_context(const std::string& context) const;

  // "invalid_argument: <message>" ("ok" when ok).
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value of type T or the Status that explains why there is none.
// REQUIRES: a Result built from a Status gets a non-ok one.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    VCAP_CHECK(!std::get<Status>(state_).ok(), "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  // The error; an ok Status when there is a value.
  Status status() const { return ok() ? Status() : std::get<Status>(state_); }

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
    VCAP_CHECK(ok(), ("value() of a failed Result: " + std::get<Status>(state_).to_string()).c_str());
  }
  std::variant<T, Status> state_;
};

}  // namespace vcap

#endif  // VCAP_BASE_STATUS_H_
