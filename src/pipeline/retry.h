// --retry: caption again only the rows of an earlier output that failed in given ways, keeping
// every other row of it as it is.
//
// A run over millions of clips ends with some rows that failed for reasons that pass (oom,
// timeout, io_error on a network filesystem) or that the user can fix (not_found after a wrong
// --root, too_large before --fit), and datasets grow: rows get appended to the CSV. Rerunning
// everything would caption the good rows again; --retry copies them from the earlier output
// into this rank's journal as finished records, so the ordinary resume and merge machinery
// captions the rest (the retried rows and the appended ones) and writes the new output.
#ifndef VCAP_PIPELINE_RETRY_H_
#define VCAP_PIPELINE_RETRY_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "pipeline/caption_options.h"
#include "pipeline/clip_status.h"
#include "pipeline/journal.h"
#include "pipeline/resume_state.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

// "failed" (every status without a caption), or a comma list of status names, e.g.
// "oom,timeout". kInvalidArgument names an unknown status and lists the known ones.
Result<std::vector<ClipStatus>> parse_retry_statuses(std::string_view list);

// The comma list of `statuses` (parse_retry_statuses reads it back).
std::string retry_statuses_text(const std::vector<ClipStatus>& statuses);

struct RetrySeed {
  uint64_t kept = 0;                       // rows of this rank copied from the earlier output
  std::map<ClipStatus, uint64_t> retried;  // rows of this rank left to caption, by earlier status
  uint64_t added = 0;  // rows of this rank past the earlier output's end (appended since)
};

// Streams the input CSV and the earlier output side by side. For every row of `shard` that is
// not `done` yet and whose earlier caption_status is not in `retry`, hands `keep` the earlier
// result as a journal record. Rows past the end of the earlier output (appended to the CSV
// since) are left to caption. Everything is checked before `keep` is first called: kNotFound
// when there is no earlier output; kInvalidArgument when it lacks the caption columns or does
// not belong to this input (more rows than it, another path in some row); kCorruption for an
// unknown status in it.
Result<RetrySeed> keep_earlier_results(const std::filesystem::path& meta_path,
                                       const std::filesystem::path& earlier_output,
                                       const Shard& shard, const std::vector<ClipStatus>& retry,
                                       const std::function<bool(uint64_t row)>& done,
                                       const std::function<Status(JournalRecord&&)>& keep);

// --retry for one rank: appends the rows of `output` (the earlier output) that are not retried
// to `journal` as finished records and counts them in `resume`, so that only the retried and
// the appended rows are captioned; says what it kept on `log`. Errors: keep_earlier_results's,
// and the journal's.
Result<RetrySeed> seed_journal_for_retry(const CaptionOptions& options,
                                         const std::filesystem::path& output, const Shard& shard,
                                         ResumeState& resume, JournalWriter& journal,
                                         std::FILE* log);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_RETRY_H_
