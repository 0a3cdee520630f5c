// VCAP_CHECK: abort with file and line when a programmer's assumption is broken.
// Never for bad input: bad input is a Status (base/status.h).
#ifndef VCAP_BASE_CHECK_H_
#define VCAP_BASE_CHECK_H_

namespace vcap::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* condition, const char* message);
}  // namespace vcap::detail

#define VCAP_CHECK(condition, message)                                             \
  do {                                                                             \
    if (!(condition)) ::vcap::detail::check_failed(__FILE__, __LINE__, #condition, \
                                                   (message));                     \
  } while (false)

#endif  // VCAP_BASE_CHECK_H_
