// Where a caption run stands, read from its files alone (`vcap status`): the journals of every
// rank beside the output, or the output once written. A job of many ranks on many machines has
// as many logs; this is the one place that shows them all. Reading never disturbs the run: no
// lock is taken, no file is written.
#ifndef VCAP_PIPELINE_RUN_STATUS_H_
#define VCAP_PIPELINE_RUN_STATUS_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/clip_status.h"

namespace vcap::pipeline {

enum class RunState {
  kNotStarted,  // neither journals nor an output
  kRunning,     // journals: some ranks have not finished (or not started)
  kMerging,     // every rank has finished; the output is not written yet
  kComplete,    // the output is written (and its journals removed)
};

const char* run_state_name(RunState state);  // "not started", "running", ...

struct RankStatus {
  int rank = 0;
  uint64_t rows = 0;    // rows of this rank
  uint64_t done = 0;    // rows with a record
  uint64_t failed = 0;  // of which without a caption
  bool journal = false;
  bool finished = false;
  // Seconds since the journal was last written (a stalled rank shows here); nullopt without one.
  std::optional<double> idle_seconds;
  // "<host> <pid>" of the rank's lock file while one is there: the process captioning it, or one
  // killed by SIGKILL (its kernel lock is gone but the file stays).
  std::string lock_holder;
  // From the finishing times of its last (up to 200) clips; nullopt with fewer than two.
  std::optional<double> clips_per_second;
  // Until its last row, at that rate; only while a process holds its lock.
  std::optional<double> eta_seconds;
};

struct RunStatus {
  std::filesystem::path output;
  RunState state = RunState::kNotStarted;
  uint64_t rows = 0;  // input rows
  uint64_t done = 0;
  uint64_t failed = 0;
  int world_size = 0;                     // 0 without journals
  std::vector<RankStatus> ranks;          // one per rank of world_size
  std::map<ClipStatus, uint64_t> counts;  // per status, over the rows done
  // The slowest rank's, when every unfinished rank has one.
  std::optional<double> eta_seconds;
};

// Reads the status of the run of `meta_path` writing `output`. `world_size` overrides the one
// read from the journal names. kNotFound for a missing input; kInvalidArgument for journals of
// several world sizes; kCorruption for an unreadable journal or output.
Result<RunStatus> read_run_status(const std::filesystem::path& meta_path,
                                  const std::filesystem::path& output,
                                  std::optional<int> world_size);

// The report `vcap status` prints: one line per rank and the totals.
std::string format_run_status(const RunStatus& status);

// The same as one JSON object, for scripts and monitoring.
std::string run_status_json(const RunStatus& status);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_RUN_STATUS_H_
