// Clips that kill the process. A clip whose decoding or captioning ends vcap (a decoder fault on
// a damaged file, the kernel's OOM killer, a GPU fault that leaves the device unusable) would be
// started again by every rerun, and its rank would never finish. So:
//   - the rows a run has started and not yet journaled are listed in "<journal>.inflight";
//   - a run that finds that list (its predecessor died with those rows in flight) gives each a
//     strike, kept in "<journal>.suspects" (a strike "alone" when the row was the only one in
//     flight), and captions the struck rows one at a time before the others, so that a death
//     then names its clip;
//   - a row struck alone twice is journaled as `internal` (the message says why) and not
//     started again; `--retry internal` tries it anew.
// A stop by SIGINT, SIGTERM or SIGHUP (Ctrl-C, a scheduler's time limit, a closed terminal; a
// --devices worker's SIGTERM when its parent ends, however it ends) is no clip's fault: the
// handler removes the list (forget_rows_in_flight_on_signal). SIGKILL of the process itself
// (kill -9) leaves it: its rows are merely captioned one at a time on the next run. Only two such
// kills in a row, each landing while the same row is captioned alone (seconds after a restart),
// would skip an innocent row.
#ifndef VCAP_PIPELINE_CRASH_GUARD_H_
#define VCAP_PIPELINE_CRASH_GUARD_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "pipeline/caption_engine.h"
#include "pipeline/caption_options.h"
#include "pipeline/captioner.h"
#include "pipeline/journal.h"
#include "pipeline/progress.h"
#include "pipeline/resume_state.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

// Rows started and not journaled yet, mirrored in a file: a log of a line per row started and a
// {"done":row} line per row journaled, appended (one write(2), no rename: a clip's cost on a
// network filesystem), and rewritten whole when it outgrows the rows in flight. Thread-safe.
class InFlightRows {
 public:
  // A new list (its id names this process and moment), written on the first add.
  explicit InFlightRows(std::filesystem::path path);
  ~InFlightRows();
  InFlightRows(const InFlightRows&) = delete;
  InFlightRows& operator=(const InFlightRows&) = delete;

  Status add(uint64_t row, const std::string& path);
  Status remove(uint64_t row);
  // Removes the file (nothing in flight any more).
  Status clear();

  // Lines past twice the rows in flight before the log is rewritten.
  static constexpr size_t kLinesBeforeCompaction = 256;

 private:
  Status append_locked(const nlohmann::json& event);

  std::filesystem::path path_;
  std::string id_;
  std::mutex mutex_;
  std::map<uint64_t, std::string> rows_;
  int fd_ = -1;       // the log, open for appending once written
  size_t lines_ = 0;  // row and done lines in it
};

struct Suspect {
  std::string path;
  int strikes = 0;  // deaths with the row in flight
  int alone = 0;    // of which with no other row in flight
};

// "<journal>.inflight" and "<journal>.suspects".
std::filesystem::path in_flight_path(const std::filesystem::path& journal);
std::filesystem::path suspects_path(const std::filesystem::path& journal);

// Gives every row of the in-flight list left beside `journal` a strike (alone when it is the
// list's only row), saves the strikes and removes the list; returns every struck row so far. A
// list counted already (a start that died between the two steps) is not counted again. Lines that
// do not read (torn by a death mid-write) are skipped. kIoError when the strikes cannot be saved.
Result<std::map<uint64_t, Suspect>> strike_rows_left_in_flight(
    const std::filesystem::path& journal);

// Removes the list and the strikes (the rank has finished).
void forget_suspects(const std::filesystem::path& journal);

// For a signal handler (async-signal-safe: one unlink(2)): removes the in-flight list of the
// InFlightRows last made in this process, if it is still alive, so that a stop by a signal that
// asks to stop does not strike the rows in flight (their decoding and captioning were fine).
void forget_rows_in_flight_on_signal();

// Journals the rows of `shard` struck alone twice as internal (kStruckTwiceMessage), never to be
// started again, and counts them in `resume`; says so on `log`, and how many struck rows are
// captioned alone first.
Status skip_rows_struck_twice(const std::map<uint64_t, Suspect>& suspects, const Shard& shard,
                              uint64_t total_rows, ResumeState& resume, JournalWriter& journal,
                              std::FILE* log);

// Captions the other struck rows of `shard`, each alone (a batch of one, one decode thread), with
// `config` otherwise, listing each in `in_flight` and handing it to `sink`; then counts them in
// `resume`, so that the rest of the run skips them.
Result<EngineReport> caption_struck_rows_alone(const EngineConfig& config, ClipCaptioner& captioner,
                                               const std::map<uint64_t, Suspect>& suspects,
                                               const CaptionOptions& options, const Shard& shard,
                                               uint64_t total_rows, ResumeState& resume,
                                               InFlightRows& in_flight, const RecordSink& sink,
                                               ProgressReporter& progress);

// The caption_error of a row struck alone twice.
inline constexpr const char* kStruckTwiceMessage =
    "vcap's process died twice while captioning this clip with no other clip in flight (a "
    "decoder or device fault, or the OOM killer); skipped: --retry internal tries it again";

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CRASH_GUARD_H_
