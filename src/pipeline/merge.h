// Merge: the final output CSV from the input CSV and the journals of all ranks.
//
// The input is streamed row by row; row i's record is taken from the journal of rank
// i mod W (journals are nearly in row order, so only a small reorder buffer is held). The
// output is written to a temporary file beside the target, read back and checked against the
// input (same row count, same fields in every input column, a valid status in every row),
// then renamed over the target atomically; only after that are the journals removed. Any
// mismatch (a row without a record, a record whose path is not the row's path, records beyond
// the input, journals made with different fingerprints) fails loudly and leaves the journals
// and any previous output untouched.
#ifndef VCAP_PIPELINE_MERGE_H_
#define VCAP_PIPELINE_MERGE_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "pipeline/clip_status.h"

namespace vcap::pipeline {

struct MergeReport {
  std::filesystem::path output;
  uint64_t rows = 0;
  std::map<ClipStatus, uint64_t> counts;  // per status over all rows
  uint64_t duplicate_records = 0;         // records of a row seen twice (the first one is kept)
  uint64_t damaged_lines = 0;             // journal lines skipped as damaged
};

// The (rank, world size) of every journal beside `output`, sorted.
Result<std::vector<std::pair<int, int>>> list_journals(const std::filesystem::path& output);

// The world size of the journals beside `output`. kNotFound when there are none;
// kInvalidArgument when journals of several world sizes are mixed.
Result<int> journal_world_size(const std::filesystem::path& output);

// Ranks of `world_size` whose journal is missing or not finished for `input_rows` (no done
// marker at its end, or one for another row count: finished before rows were appended to the
// CSV, which a rerun captions).
Result<std::vector<int>> unfinished_ranks(const std::filesystem::path& output, int world_size,
                                          uint64_t input_rows);

// Writes `output` from `meta_path` and the journals of `world_size` ranks, as described above,
// and removes the journals, and the temporary outputs of mergers that were killed before their
// rename. REQUIRES: the caller holds the merge lock (file_sync.h lock_merge).
// `expected_fingerprint`, when given, must match every journal's.
// kInvalidArgument/kNotFound for unusable inputs (missing ranks, changed CSV, fingerprints),
// kInternal when the written output fails the integrity check.
Result<MergeReport> merge_journals(const std::filesystem::path& meta_path,
                                   const std::filesystem::path& output, int world_size,
                                   const std::optional<std::string>& expected_fingerprint);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_MERGE_H_
