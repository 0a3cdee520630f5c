// Stage timing: every stage time vcap reports is steady-clock seconds since the stage began.
#ifndef VCAP_BASE_STOPWATCH_H_
#define VCAP_BASE_STOPWATCH_H_

#include <chrono>

namespace vcap {

// Seconds from `start` (a std::chrono::steady_clock::now()) to now.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace vcap

#endif  // VCAP_BASE_STOPWATCH_H_
