// What this rank already did: its journal, read back at the start of a run (see journal.h for
// the file, caption_run.h for when it is resumed, refused or discarded).
#ifndef VCAP_PIPELINE_RESUME_STATE_H_
#define VCAP_PIPELINE_RESUME_STATE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/caption_options.h"
#include "pipeline/clip_status.h"
#include "pipeline/journal.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

// The check stored for a done row: a non-zero checksum of its `path` field.
uint32_t path_check(const std::string& path);

// Rows of this rank already in its journal. Indexed by k = row / world_size; each entry is
// path_check of the row's path (0 = not done), so that a changed CSV is caught while streaming
// it, at 4 bytes per row.
struct ResumeState {
  int world_size = 1;
  std::vector<uint32_t> done_path_crc;
  uint64_t done = 0;
  uint64_t failed = 0;
  bool exists = false;
  bool finished = false;  // a done marker was read
  uint64_t valid_bytes = 0;
  uint64_t damaged_lines = 0;

  // REQUIRES: `row` belongs to this rank.
  uint32_t path_crc(uint64_t row) const {
    return done_path_crc[row / static_cast<uint64_t>(world_size)];
  }
  bool has(uint64_t row) const { return path_crc(row) != 0; }
  // Counts `row` as done; false (and nothing changes) when it already was: the first record of a
  // row wins, as in the merge.
  bool add(uint64_t row, const std::string& path, ClipStatus status);
};

// "<journal>: <what>: the input CSV changed since this run started; pass --restart ..."
std::string csv_changed(const std::filesystem::path& journal, const std::string& what);

// Deletes (with --restart, or when they hold no record) or refuses journals of other world
// sizes; deletes this rank's own journal with --restart. Other ranks' journals of this world are
// theirs to restart.
Status clear_or_refuse_stale(const CaptionOptions& options, const std::filesystem::path& output,
                             const Shard& shard);

// Reads this rank's journal at `path` (absent: nothing done). kInvalidArgument when it was made
// with another fingerprint and holds results, or when it does not fit a CSV of `total_rows`
// rows; a journal without results made with other settings reads as absent.
Result<ResumeState> load_journal(const std::filesystem::path& path, const Shard& shard,
                                 uint64_t total_rows, const std::string& fingerprint);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_RESUME_STATE_H_
