#include "tensor/cuda/op_profile.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace vcap::tensor::cuda {

cudaEvent_t OpProfile::take_event() {
  if (!free_.empty()) {
    cudaEvent_t event = free_.back();
    free_.pop_back();
    return event;
  }
  cudaEvent_t event = nullptr;
  if (!context_.check(cudaEventCreate(&event), "cudaEventCreate (op profile)")) return nullptr;
  events_.emplace_back(event);
  return event;
}

void OpProfile::begin(const char* kind) {
  if (depth_++ > 0) return;
  open_host_start_ = std::chrono::steady_clock::now();
  if (!span_start_) {
    cudaEvent_t start = nullptr;
    if (!context_.check(cudaEventCreate(&start), "cudaEventCreate (op profile)")) return;
    span_start_.reset(start);
    context_.check(cudaEventRecord(start, context_.stream()), "cudaEventRecord (op profile)");
  }
  open_kind_ = kind;
  open_start_ = take_event();
  if (open_start_ != nullptr) {
    context_.check(cudaEventRecord(open_start_, context_.stream()), "cudaEventRecord (op profile)");
  }
}

void OpProfile::end() {
  if (depth_ == 0 || --depth_ > 0 || open_start_ == nullptr) return;
  cudaEvent_t stop = take_event();
  if (stop == nullptr) return;
  context_.check(cudaEventRecord(stop, context_.stream()), "cudaEventRecord (op profile)");
  pending_.push_back({open_kind_, open_start_, stop});
  open_start_ = nullptr;
  Totals& totals = totals_[open_kind_];
  ++totals.host_calls;
  totals.host_us +=
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - open_host_start_)
          .count();
}

void OpProfile::resolve() {
  for (const Pair& pair : pending_) {
    float ms = 0.0f;
    if (context_.check(cudaEventElapsedTime(&ms, pair.start, pair.end),
                       "cudaEventElapsedTime (op profile)")) {
      Totals& totals = totals_[pair.kind];
      ++totals.calls;
      totals.ms += ms;
    }
    float span = 0.0f;
    if (span_start_) {
      if (cudaEventElapsedTime(&span, span_start_.get(), pair.end) == cudaSuccess) {
        span_ms_ = std::max(span_ms_, static_cast<double>(span));
      } else {
        cudaGetLastError();  // the span is best effort: the next op must not be blamed for it
      }
    }
    free_.push_back(pair.start);
    free_.push_back(pair.end);
  }
  pending_.clear();
}

void OpProfile::restart() {
  totals_.clear();
  span_start_.reset();
  span_ms_ = 0.0;
}

std::string OpProfile::report() const {
  std::vector<std::pair<std::string, Totals>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double busy = 0.0;
  for (const auto& [kind, totals] : rows) busy += totals.ms;
  std::string text =
      "| op | calls | GPU ms | share of op time | us per call | host us per call |\n"
      "|---|---|---|---|---|---|\n";
  char line[256];
  for (const auto& [kind, totals] : rows) {
    std::snprintf(
        line, sizeof line, "| %s | %lld | %.2f | %.1f%% | %.1f | %.1f |\n", kind.c_str(),
        static_cast<long long>(totals.calls), totals.ms,
        busy > 0.0 ? 100.0 * totals.ms / busy : 0.0,
        totals.calls > 0 ? 1e3 * totals.ms / static_cast<double>(totals.calls) : 0.0,
        totals.host_calls > 0 ? totals.host_us / static_cast<double>(totals.host_calls) : 0.0);
    text += line;
  }
  std::snprintf(line, sizeof line,
                "\nGPU busy: %.1f ms in ops over a %.1f ms span (%.1f%%); the rest the GPU "
                "waited for the host.\n",
                busy, span_ms_, span_ms_ > 0.0 ? 100.0 * busy / span_ms_ : 0.0);
  text += line;
  return text;
}

}  // namespace vcap::tensor::cuda
