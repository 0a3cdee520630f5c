// run_caption: one rank's whole `vcap caption` run, and run_merge for `vcap merge`.
//
// run_caption, in order:
//   1. checks the options; a missing input CSV or one without a `path` column is an error
//      (kNotFound / kInvalidArgument, exit 2: unlike the seed, which exited 0, a typo in a
//      pipeline must not look like success);
//   2. --skip-if-existing and the output exists: returns kSkippedExisting (the output is only
//      ever created complete, by an atomic rename after the integrity check);
//   3. reads the whole CSV once (checks every row, counts them), resolves the shard, computes
//      the run fingerprint (CaptionerFactory::model_identity, no weights loaded);
//   4. opens this rank's journal: resumes it (rows already there are skipped; a torn last line
//      is cut off), or refuses when it was made with another fingerprint or the CSV changed,
//      unless --restart (which deletes it and any journals of other world sizes);
//   5. with --retry, copies the earlier output's rows whose status is not retried into the
//      journal (pipeline/retry.h), so that they count as done; a journal that had finished
//      without a merge is merged first (step 7), and the retry then runs from that output;
//   6. if rows remain: loads the model and runs the engine, journaling every row at once; then
//      appends the done marker;
//   7. merges when every rank of the world has finished (whichever finishes last does it,
//      under the merge lock beside the output, file_sync.h); otherwise returns kWaitingForRanks.
// Diagnostics and progress go to `log` (stderr in the CLI).
#ifndef VCAP_PIPELINE_CAPTION_RUN_H_
#define VCAP_PIPELINE_CAPTION_RUN_H_

#include <cstdio>
#include <filesystem>
#include <optional>
#include <vector>

#include "base/status.h"
#include "pipeline/caption_engine.h"
#include "pipeline/caption_options.h"
#include "pipeline/captioner.h"
#include "pipeline/decode_share.h"
#include "pipeline/merge.h"
#include "pipeline/retry.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

enum class RunEnd {
  kSkippedExisting,  // --skip-if-existing and the output exists: nothing done
  kWaitingForRanks,  // this rank is done; others are not, one of them will merge
  kMergedElsewhere,  // this rank is done; another process is merging or has merged
  kMerged,           // this process wrote the output
};

struct CaptionRunReport {
  RunEnd end = RunEnd::kMerged;
  Shard shard;
  std::filesystem::path output;
  uint64_t total_rows = 0;    // data rows in the input
  uint64_t rows_owned = 0;    // rows of this rank
  uint64_t resumed_rows = 0;  // rows of this rank found in the journal at start
  EngineReport engine;        // rows captioned by this process
  RetrySeed retry;            // --retry: rows kept from the earlier output, rows left to retry
  std::optional<MergeReport> merge;
  std::vector<int> unfinished_ranks;  // kWaitingForRanks: who has not finished
  // kMergedElsewhere: the merge lock's holder ("<host> <pid>"); empty when the merge was done.
  std::string merger;
  // --retry found this rank's journal finished but not merged: nothing was retried. run_caption
  // retries from the output when it merged; otherwise a later --retry run does.
  bool retry_after_merge = false;
};

Result<CaptionRunReport> run_caption(const CaptionOptions& options, CaptionerFactory& factory,
                                     const EnvLookup& env, std::FILE* log);

// `vcap merge`: merges the journals beside the output of `options` (world size from
// --world-size or from the journal names). kInvalidArgument when a rank has not finished.
Result<MergeReport> run_merge(const CaptionOptions& options, std::FILE* log);

// `path` as given when absolute or when `root` is empty, else root/path.
std::filesystem::path resolve_clip_path(const std::filesystem::path& root, const std::string& path);

// The host memory the clips decoded ahead may hold: default_prefetch_bytes of this machine's
// free memory, less the `processes` budgets of `budget_bytes` when the budget is host memory (a
// CPU run); UINT64_MAX when the free memory cannot be read.
uint64_t host_prefetch_bytes(const CaptionOptions& options, uint64_t budget_bytes, int processes);

// The engine settings of a run of `options` on this machine, `captioner` loaded, with
// `processes` of the job on the machine: the working budget (--max-memory, else the captioner's
// default, shared by a CPU job's processes), the decode share of the cores (decode_share) and
// host_prefetch_bytes, through engine_config.
EngineConfig machine_engine_config(const CaptionOptions& options, const ClipCaptioner& captioner,
                                   int processes);

// The engine settings of `options` (sampling, size, batch, decoding as `decode` spreads it,
// prefetch) with `budget_bytes` of working memory and `prefetch_bytes` of host memory for the
// clips decoded ahead.
EngineConfig engine_config(const CaptionOptions& options, uint64_t budget_bytes,
                           const DecodeShare& decode, uint64_t prefetch_bytes);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CAPTION_RUN_H_
