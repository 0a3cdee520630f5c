#include "pipeline/retry.h"

#include <algorithm>
#include <cstdio>

#include "pipeline/meta_table.h"
#include "pipeline/resume_state.h"

namespace vcap::pipeline {
namespace {

std::string known_statuses() {
  std::string text = "failed";
  for (ClipStatus status : kAllClipStatuses) text += std::string(", ") + clip_status_name(status);
  return text;
}

// Where the earlier output keeps a row's result.
struct ResultColumns {
  size_t text = 0;
  size_t status = 0;
  size_t error = 0;
};

Result<ResultColumns> result_columns(const std::filesystem::path& output,
                                     const std::vector<std::string>& columns) {
  ResultColumns found;
  const std::pair<const char*, size_t*> wanted[] = {
      {kTextColumn, &found.text}, {kStatusColumn, &found.status}, {kErrorColumn, &found.error}};
  for (const auto& [name, index] : wanted) {
    const auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end()) {
      return Status::invalid_argument(output.string() + ": no '" + name +
                                      "' column; --retry needs an output written by vcap");
    }
    *index = static_cast<size_t>(it - columns.begin());
  }
  return found;
}

Status not_from_this_input(const std::filesystem::path& output, const std::string& why) {
  return Status::invalid_argument(output.string() + " was not written from this input CSV (" + why +
                                  "); --retry needs the output of the same CSV");
}

// One pass over the input and the earlier output side by side (see keep_earlier_results);
// `keep` may be null to check only.
struct EarlierOutputWalk {
  const std::filesystem::path& meta_path;
  const std::filesystem::path& earlier_output;
  const Shard& shard;
  const std::vector<ClipStatus>& retry;
  const std::function<bool(uint64_t row)>& done;

  Result<RetrySeed> run(const std::function<Status(JournalRecord&&)>& keep) const {
    Result<MetaReader> input = MetaReader::open(meta_path);
    if (!input) return input.status();
    Result<MetaReader> output = MetaReader::open(earlier_output);
    if (!output) return output.status();
    Result<ResultColumns> columns = result_columns(earlier_output, output->columns());
    if (!columns) return columns.status();
    RetrySeed seed;
    std::vector<std::string> in_fields;
    std::vector<std::string> out_fields;
    bool earlier_ended = false;
    while (true) {
      Result<bool> more_in = input->next(in_fields);
      if (!more_in) return more_in.status();
      if (!earlier_ended) {
        Result<bool> more_out = output->next(out_fields);
        if (!more_out) return more_out.status();
        if (*more_out && !*more_in)
          return not_from_this_input(earlier_output, "it has more rows than the input");
        earlier_ended = !*more_out;
      }
      if (!*more_in) return seed;
      const uint64_t row = input->rows_read() - 1;
      if (earlier_ended) {  // appended to the CSV since
        if (shard.owns(row) && !done(row)) ++seed.added;
        continue;
      }
      const std::string& path = in_fields[input->path_column()];
      if (out_fields[output->path_column()] != path)
        return not_from_this_input(earlier_output,
                                   "row " + std::to_string(row) + " has another path");
      const Result<ClipStatus> status =
          output_row_status(earlier_output, row, out_fields[columns->status]);
      if (!status) return status.status();
      if (!shard.owns(row) || done(row)) continue;
      if (std::find(retry.begin(), retry.end(), *status) != retry.end()) {
        ++seed.retried[*status];
        continue;
      }
      ++seed.kept;
      if (!keep) continue;
      JournalRecord record{row,
                           path,
                           *status,
                           std::move(out_fields[columns->error]),
                           std::move(out_fields[columns->text]),
                           0};
      if (Status kept = keep(std::move(record)); !kept.ok()) return kept;
    }
  }
};

}  // namespace

Result<std::vector<ClipStatus>> parse_retry_statuses(std::string_view list) {
  std::vector<ClipStatus> statuses;
  auto add = [&statuses](ClipStatus status) {
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end())
      statuses.push_back(status);
  };
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string_view name = list.substr(start, comma - start);
    start = comma + 1;
    if (name == "failed") {
      for (ClipStatus status : kAllClipStatuses) {
        if (!has_caption(status)) add(status);
      }
      continue;
    }
    const std::optional<ClipStatus> status = parse_clip_status(name);
    if (!status) {
      return Status::invalid_argument("--retry '" + std::string(list) + "': unknown status '" +
                                      std::string(name) + "' (known: " + known_statuses() + ")");
    }
    add(*status);
  }
  return statuses;
}

std::string retry_statuses_text(const std::vector<ClipStatus>& statuses) {
  std::string text;
  for (ClipStatus status : statuses)
    text += (text.empty() ? "" : ",") + std::string(clip_status_name(status));
  return text;
}

Result<RetrySeed> keep_earlier_results(const std::filesystem::path& meta_path,
                                       const std::filesystem::path& earlier_output,
                                       const Shard& shard, const std::vector<ClipStatus>& retry,
                                       const std::function<bool(uint64_t row)>& done,
                                       const std::function<Status(JournalRecord&&)>& keep) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(earlier_output, error)) {
    return Status::not_found("--retry: no earlier output " + earlier_output.string() +
                             " to retry from; run without --retry first");
  }
  // A first pass only checks, so that a refused retry leaves no kept row in the journal (a
  // plain rerun would otherwise resume from them instead of captioning everything).
  const EarlierOutputWalk walk{meta_path, earlier_output, shard, retry, done};
  Result<RetrySeed> checked = walk.run(nullptr);
  if (!checked) return checked.status();
  return walk.run(keep);
}

Result<RetrySeed> seed_journal_for_retry(const CaptionOptions& options,
                                         const std::filesystem::path& output, const Shard& shard,
                                         ResumeState& resume, JournalWriter& journal,
                                         std::FILE* log) {
  const auto done = [&resume](uint64_t row) { return resume.has(row); };
  const auto keep = [&](JournalRecord&& record) -> Status {
    if (Status status = journal.append(record); !status.ok()) return status;
    resume.add(record.row_index, record.path, record.status);
    return Status();
  };
  Result<RetrySeed> seed =
      keep_earlier_results(options.meta_path, output, shard, options.retry, done, keep);
  if (!seed) return seed.status();
  if (Status status = journal.sync(); !status.ok()) return status;
  std::string retried;
  uint64_t retried_rows = 0;
  for (const auto& [status, count] : seed->retried) {
    retried += (retried.empty() ? " (" : ", ") + std::string(clip_status_name(status)) + " " +
               std::to_string(count);
    retried_rows += count;
  }
  std::fprintf(log, "vcap: --retry: kept %llu rows of %s, %llu to caption again%s, %llu new\n",
               static_cast<unsigned long long>(seed->kept), output.c_str(),
               static_cast<unsigned long long>(retried_rows),
               retried.empty() ? "" : (retried + ")").c_str(),
               static_cast<unsigned long long>(seed->added));
  return seed;
}

}  // namespace vcap::pipeline
