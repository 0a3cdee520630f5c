// Per-op GPU time of a CUDA backend (CudaBackendOptions::profile), for benchmarks: an event
// pair around each op on the backend's stream, resolved once the stream has been synchronized.
// The report gives, per op kind, the calls, the GPU milliseconds between the pair and the host
// microseconds the op's call took (planning, uploads, launches: what a launch-bound decode step
// spends), and the share of the profiled span (first op start to last op end) the GPU spent
// inside ops; the rest it waited for the host to queue work (launch overhead, host work between
// steps). Events
// cost about a microsecond each to record, so a profiled run is a little slower than a plain
// one: time the headline figures without it. Not thread-safe (one backend, one thread).
#ifndef VCAP_TENSOR_CUDA_OP_PROFILE_H_
#define VCAP_TENSOR_CUDA_OP_PROFILE_H_

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/cuda/cuda_context.h"

namespace vcap::tensor::cuda {

class OpProfile {
 public:
  explicit OpProfile(CudaContext& context) : context_(context) {}
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // Marks the start and the end of op `kind` (a string literal) on the context's stream. An op
  // begun inside another is part of the outer one.
  void begin(const char* kind);
  void end();

  // Adds up the pairs recorded so far. REQUIRES: the stream was synchronized since.
  void resolve();

  // A markdown table of the totals (resolve() first).
  std::string report() const;

  // Forgets the totals and the span: the next op starts a new profile. REQUIRES: resolved.
  void restart();

 private:
  struct Pair {
    const char* kind;
    cudaEvent_t start;
    cudaEvent_t end;
  };
  struct Totals {
    int64_t calls = 0;
    double ms = 0.0;
    int64_t host_calls = 0;
    double host_us = 0.0;  // in the op's call on the host, the two events' recording included
  };

  cudaEvent_t take_event();

  CudaContext& context_;
  std::vector<UniqueEvent> events_;  // every event made, reused once resolved
  std::vector<cudaEvent_t> free_;    // events ready to record
  std::vector<Pair> pending_;        // recorded, not yet added up
  int depth_ = 0;                    // ops open; one inside another counts for the outer
  const char* open_kind_ = nullptr;  // the outermost open op
  cudaEvent_t open_start_ = nullptr;
  std::chrono::steady_clock::time_point open_host_start_;
  UniqueEvent span_start_;  // recorded at the first op's start
  double span_ms_ = 0.0;    // span_start_ to the last resolved end
  std::map<std::string, Totals> totals_;
};

// Profiles one op for its scope; does nothing when `profile` is null.
class OpScope {
 public:
  OpScope(OpProfile* profile, const char* kind) : profile_(profile) {
    if (profile_ != nullptr) profile_->begin(kind);
  }
  ~OpScope() {
    if (profile_ != nullptr) profile_->end();
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  OpProfile* profile_;
};

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_OP_PROFILE_H_
