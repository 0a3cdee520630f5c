#include "hub/progress_printer.h"

#include <chrono>
#include <memory>

namespace vcap::hub {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

// State of the line being drawn; shared by the copies of the callback.
struct PrinterState {
  std::FILE* out = nullptr;
  bool interactive = false;
  Clock::time_point started;
  Clock::time_point last_draw;
  uint64_t started_at_bytes = 0;
};

void draw_line(PrinterState& state, const DownloadProgress& event) {
  const double seconds = std::chrono::duration<double>(Clock::now() - state.started).count();
  const double rate =
      seconds > 0 ? static_cast<double>(event.done_bytes - state.started_at_bytes) / seconds : 0;
  std::string line = std::string(event.file) + "  ";
  if (event.total_bytes > 0) {
    const int percent = static_cast<int>(100.0 * static_cast<double>(event.done_bytes) /
                                         static_cast<double>(event.total_bytes));
    line += std::to_string(percent) + "%  " + format_bytes(event.done_bytes) + "/" +
            format_bytes(event.total_bytes);
  } else {
    line += format_bytes(event.done_bytes);
  }
  line += "  " + format_bytes(static_cast<uint64_t>(rate)) + "/s";
  std::fprintf(state.out, "\r%-79s", line.c_str());
  std::fflush(state.out);
}

void on_event(PrinterState& state, const DownloadProgress& event) {
  using Phase = DownloadProgress::Phase;
  const std::string file(event.file);
  switch (event.phase) {
    case Phase::kStart:
      state.started = state.last_draw = Clock::now();
      state.started_at_bytes = event.done_bytes;
      if (!state.interactive) {
        std::fprintf(state.out, "downloading %s (%s%s)\n", file.c_str(),
                     format_bytes(event.total_bytes).c_str(),
                     event.done_bytes > 0
                         ? (", resuming at " + format_bytes(event.done_bytes)).c_str()
                         : "");
      } else {
        draw_line(state, event);
      }
      break;
    case Phase::kProgress:
      if (state.interactive && Clock::now() - state.last_draw >= kRedrawInterval) {
        state.last_draw = Clock::now();
        draw_line(state, event);
      }
      break;
    case Phase::kVerify:
      if (state.interactive) {
        std::fprintf(state.out, "\r%-79s", (file + "  checking sha256...").c_str());
        std::fflush(state.out);
      }
      break;
    case Phase::kDone:
      if (state.interactive) {
        std::fprintf(state.out, "\r%-79s\n",
                     (file + "  " + format_bytes(event.total_bytes) + "  done").c_str());
      } else {
        std::fprintf(state.out, "downloaded %s\n", file.c_str());
      }
      std::fflush(state.out);
      break;
  }
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 5) {
    value /= 1000;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof(text), value < 100 ? "%.2f %s" : "%.0f %s", value, kUnits[unit]);
  }
  return text;
}

ProgressCallback make_progress_printer(std::FILE* out, bool interactive) {
  auto state = std::make_shared<PrinterState>();
  state->out = out;
  state->interactive = interactive;
  return [state](const DownloadProgress& event) { on_event(*state, event); };
}

}  // namespace vcap::hub
