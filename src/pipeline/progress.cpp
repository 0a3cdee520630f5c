#include "pipeline/progress.h"

#include <unistd.h>

#include <cmath>

namespace vcap::pipeline {
namespace {

std::string fixed(double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (total < 60) {
    std::snprintf(text, sizeof(text), "%llds", total);
  } else if (total < 3600) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", total / 60, total % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", total / 3600, (total % 3600) / 60);
  }
  return text;
}

std::string format_progress(const ProgressSnapshot& s, int bar_width) {
  const double fraction = s.total == 0 ? 1.0 : static_cast<double>(s.done) / s.total;
  const double rate = s.elapsed_sec > 0 ? s.done_this_run / s.elapsed_sec : 0.0;
  const double tokens_rate = s.elapsed_sec > 0 ? s.output_tokens / s.elapsed_sec : 0.0;
  const double eta = rate > 0 ? (s.total - s.done) / rate : (s.done == s.total ? 0 : -1);
  std::string line;
  if (!s.label.empty()) line += s.label + " | ";
  line += std::to_string(s.done) + "/" + std::to_string(s.total) + " clips";
  if (bar_width > 0) {
    const int filled = static_cast<int>(fraction * bar_width);
    line += " [" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(bar_width - filled), '.') + "]";
  }
  line += " " + fixed(100.0 * fraction, 1) + "% | " + fixed(rate, 2) + " clips/s | " +
          fixed(tokens_rate, 0) + " tok/s | ETA " + format_duration(eta) + " | " +
          std::to_string(s.failed) + " failed";
  return line;
}

std::string format_summary(const ProgressSnapshot& s, const std::map<ClipStatus, uint64_t>& counts,
                           const StageTimes& times) {
  std::string text = (s.label.empty() ? std::string("done") : s.label + " done") + ": " +
                     std::to_string(s.done_this_run) + " rows finished by this run in " +
                     format_duration(s.elapsed_sec) + " (" + std::to_string(s.done) + "/" +
                     std::to_string(s.total) + " rows done, " + std::to_string(s.failed) +
                     " without caption)\n  status:";
  bool any = false;
  for (ClipStatus status : kAllClipStatuses) {
    const auto it = counts.find(status);
    if (it == counts.end() || it->second == 0) continue;
    text += std::string(" ") + clip_status_name(status) + "=" + std::to_string(it->second);
    any = true;
  }
  if (!any) text += " (no clips this run)";
  const double tokens_rate = s.elapsed_sec > 0 ? s.output_tokens / s.elapsed_sec : 0.0;
  text += "\n  time: plan " + fixed(times.plan_sec, 1) + " s, decode+preprocess " +
          fixed(times.prepare_sec, 1) + " s (summed over decode threads), model " +
          fixed(times.model_sec, 1) + " s, journal " + fixed(times.journal_sec, 1) + " s; " +
          std::to_string(s.output_tokens) + " tokens (" + fixed(tokens_rate, 1) + " tok/s)\n";
  return text;
}

ProgressReporter::ProgressReporter(std::FILE* out, ProgressMode mode, std::string label,
                                   uint64_t total, uint64_t already_done, uint64_t already_failed,
                                   std::chrono::milliseconds line_interval)
    : out_(out), line_interval_(line_interval) {
  quiet_ = mode == ProgressMode::kNone;
  bar_ = mode == ProgressMode::kBar || (mode == ProgressMode::kAuto && ::isatty(fileno(out)) == 1);
  snapshot_.label = std::move(label);
  snapshot_.total = total;
  snapshot_.done = already_done;
  snapshot_.failed = already_failed;
}

void ProgressReporter::record(ClipStatus status, int64_t output_tokens) {
  ++snapshot_.done;
  ++snapshot_.done_this_run;
  if (!has_caption(status)) ++snapshot_.failed;
  snapshot_.output_tokens += static_cast<uint64_t>(output_tokens > 0 ? output_tokens : 0);
}

ProgressSnapshot ProgressReporter::snapshot() const {
  ProgressSnapshot snapshot = snapshot_;
  snapshot.elapsed_sec = std::chrono::duration<double>(Clock::now() - start_).count();
  return snapshot;
}

void ProgressReporter::tick() {
  if (quiet_) return;
  const auto interval = bar_ ? kBarRefresh : line_interval_;
  if (Clock::now() - last_draw_ < interval) return;
  draw();
}

void ProgressReporter::draw() {
  last_draw_ = Clock::now();
  if (bar_) {
    std::fprintf(out_, "\r\033[K%s", format_progress(snapshot(), 24).c_str());
  } else {
    std::fprintf(out_, "progress: %s\n", format_progress(snapshot(), 0).c_str());
  }
  std::fflush(out_);
}

void ProgressReporter::finish() {
  if (quiet_) return;
  if (bar_) {
    draw();
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace vcap::pipeline
