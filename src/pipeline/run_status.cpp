#include "pipeline/run_status.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pipeline/file_sync.h"
#include "pipeline/journal.h"
#include "pipeline/merge.h"
#include "pipeline/meta_table.h"
#include "pipeline/progress.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {
namespace {

constexpr size_t kRateWindow = 200;

std::optional<double> seconds_since_written(const std::filesystem::path& path) {
  std::error_code error;
  const auto written = std::filesystem::last_write_time(path, error);
  if (error) return std::nullopt;
  const auto age = std::filesystem::file_time_type::clock::now() - written;
  return std::max(0.0, std::chrono::duration<double>(age).count());
}

// The rank's journal, counted: each row once (the first record wins, as in the merge).
Result<RankStatus> read_rank(const std::filesystem::path& output, const Shard& shard,
                             uint64_t total_rows, std::map<ClipStatus, uint64_t>& counts) {
  RankStatus rank;
  rank.rank = shard.rank;
  rank.rows = shard.rows_owned(total_rows);
  const std::filesystem::path journal = journal_path(output, shard.rank, shard.world_size);
  rank.lock_holder = lock_holder(rank_lock_path(journal));
  std::vector<bool> seen(rank.rows, false);
  std::deque<double> finish_times;  // the last kRateWindow known ones
  Result<JournalScan> scan = scan_journal(journal, [&](JournalRecord&& record) {
    if (record.row_index >= total_rows || !shard.owns(record.row_index)) return Status();
    const auto k = static_cast<size_t>(record.row_index / shard.world_size);
    if (seen[k]) return Status();
    seen[k] = true;
    ++rank.done;
    if (!has_caption(record.status)) ++rank.failed;
    ++counts[record.status];
    if (record.finished_at > 0) {
      finish_times.push_back(record.finished_at);
      if (finish_times.size() > kRateWindow) finish_times.pop_front();
    }
    return Status();
  });
  if (!scan && scan.status().code() == StatusCode::kNotFound) return rank;
  if (!scan) return scan.status();
  rank.journal = true;
  rank.finished = scan->done && scan->done_input_rows == total_rows;  // not before rows were added
  rank.idle_seconds = seconds_since_written(journal);
  const double span = finish_times.empty() ? 0 : finish_times.back() - finish_times.front();
  if (finish_times.size() >= 2 && span > 0)
    rank.clips_per_second = static_cast<double>(finish_times.size() - 1) / span;
  const bool captioning = !rank.lock_holder.empty() && !holder_is_gone(rank.lock_holder);
  if (!rank.finished && captioning && rank.clips_per_second)
    rank.eta_seconds = static_cast<double>(rank.rows - rank.done) / *rank.clips_per_second;
  return rank;
}

// A written output: its rows and statuses.
Status read_output(RunStatus& status) {
  Result<MetaReader> output = MetaReader::open(status.output);
  if (!output) return output.status();
  const auto& columns = output->columns();
  const auto it = std::find(columns.begin(), columns.end(), kStatusColumn);
  if (it == columns.end())
    return Status::corruption(status.output.string() + ": no caption_status column");
  const auto column = static_cast<size_t>(it - columns.begin());
  std::vector<std::string> fields;
  while (true) {
    Result<bool> more = output->next(fields);
    if (!more) return more.status();
    if (!*more) return Status();
    const Result<ClipStatus> clip =
        output_row_status(status.output, output->rows_read() - 1, fields[column]);
    if (!clip) return clip.status();
    ++status.done;
    if (!has_caption(*clip)) ++status.failed;
    ++status.counts[*clip];
  }
}

std::string rank_state(const RankStatus& rank) {
  if (rank.finished) return "finished";
  if (!rank.journal) return "not started";
  const std::string idle =
      rank.idle_seconds ? ", last record " + format_duration(*rank.idle_seconds) + " ago" : "";
  if (rank.lock_holder.empty()) return "stopped" + idle + ": rerun it to resume";
  if (holder_is_gone(rank.lock_holder))
    return "stopped (" + rank.lock_holder + " is gone)" + idle + ": rerun it to resume";
  std::string rate;
  if (rank.clips_per_second) {
    char text[32];
    std::snprintf(text, sizeof(text), ", %.2f clips/s", *rank.clips_per_second);
    rate = text;
  }
  if (rank.eta_seconds) rate += ", ETA " + format_duration(*rank.eta_seconds);
  return "captioning (" + rank.lock_holder + ")" + idle + rate;
}

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

std::string counts_text(const std::map<ClipStatus, uint64_t>& counts) {
  std::string text;
  for (const auto& [clip, count] : counts)
    text +=
        std::string(text.empty() ? "" : " ") + clip_status_name(clip) + "=" + std::to_string(count);
  return text;
}

}  // namespace

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::kNotStarted:
      return "not started";
    case RunState::kRunning:
      return "running";
    case RunState::kMerging:
      return "merging";
    case RunState::kComplete:
      return "complete";
  }
  return "unknown";
}

Result<RunStatus> read_run_status(const std::filesystem::path& meta_path,
                                  const std::filesystem::path& output,
                                  std::optional<int> world_size) {
  RunStatus status;
  status.output = output;
  Result<uint64_t> rows = count_meta_rows(meta_path);
  if (!rows) return rows.status();
  status.rows = *rows;
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  // No journal of any world: nothing is under way, whatever --world-size says.
  if (journals->empty()) {
    std::error_code error;
    if (!std::filesystem::exists(output, error)) return status;
    status.state = RunState::kComplete;
    if (Status read = read_output(status); !read.ok()) return read;
    return status;
  }
  if (!world_size) {
    Result<int> world = journal_world_size(output);
    if (!world) return world.status();
    world_size = *world;
  }
  status.world_size = *world_size;
  bool all_finished = true;
  for (int rank = 0; rank < status.world_size; ++rank) {
    Result<RankStatus> read =
        read_rank(output, Shard{rank, status.world_size, "journals"}, status.rows, status.counts);
    if (!read) return read.status();
    status.done += read->done;
    status.failed += read->failed;
    all_finished = all_finished && read->finished;
    status.ranks.push_back(std::move(*read));
  }
  status.state = all_finished ? RunState::kMerging : RunState::kRunning;
  if (!all_finished) {
    double slowest = 0;
    bool known = true;
    for (const RankStatus& rank : status.ranks) {
      if (rank.finished) continue;
      known = known && rank.eta_seconds.has_value();
      if (rank.eta_seconds) slowest = std::max(slowest, *rank.eta_seconds);
    }
    if (known) status.eta_seconds = slowest;
  }
  return status;
}

std::string format_run_status(const RunStatus& status) {
  std::ostringstream text;
  text << status.output.string() << ": " << run_state_name(status.state);
  if (status.state == RunState::kNotStarted) {
    text << " (no journal, no output), " << status.rows << " input rows\n";
    return text.str();
  }
  const double percent = status.rows == 0 ? 100.0 : 100.0 * status.done / status.rows;
  char share[32];
  std::snprintf(share, sizeof(share), "%.1f%%", percent);
  text << ", " << status.done << "/" << status.rows << " rows done (" << share << "), "
       << status.failed << " without caption";
  if (status.eta_seconds) text << ", ETA " << format_duration(*status.eta_seconds);
  text << "\n";
  if (!status.ranks.empty()) {
    char line[64];
    std::snprintf(line, sizeof(line), "%6s %10s %10s %8s  %s\n", "rank", "rows", "done", "failed",
                  "state");
    text << line;
    for (const RankStatus& rank : status.ranks) {
      std::snprintf(line, sizeof(line), "%6d %10llu %10llu %8llu  ", rank.rank,
                    static_cast<unsigned long long>(rank.rows),
                    static_cast<unsigned long long>(rank.done),
                    static_cast<unsigned long long>(rank.failed));
      text << line << rank_state(rank) << "\n";
    }
  }
  if (!status.counts.empty()) text << "status: " << counts_text(status.counts) << "\n";
  if (status.state == RunState::kMerging)
    text << "every rank has finished: the last one merges, or run `vcap merge`\n";
  if (status.state == RunState::kComplete && status.failed > 0)
    text << "`vcap caption` with --retry failed (or a list of statuses) captions those again\n";
  return text.str();
}

std::string run_status_json(const RunStatus& status) {
  using Json = nlohmann::json;
  Json counts = Json::object();
  for (const auto& [clip, count] : status.counts) counts[clip_status_name(clip)] = count;
  Json ranks = Json::array();
  for (const RankStatus& rank : status.ranks) {
    ranks.push_back({{"rank", rank.rank},
                     {"rows", rank.rows},
                     {"done", rank.done},
                     {"failed", rank.failed},
                     {"journal", rank.journal},
                     {"finished", rank.finished},
                     {"idle_seconds", optional_json(rank.idle_seconds)},
                     {"lock_holder", rank.lock_holder},
                     {"clips_per_second", optional_json(rank.clips_per_second)},
                     {"eta_seconds", optional_json(rank.eta_seconds)},
                     {"state", rank_state(rank)}});
  }
  const Json json = {{"output", status.output.string()},
                     {"state", run_state_name(status.state)},
                     {"rows", status.rows},
                     {"done", status.done},
                     {"failed", status.failed},
                     {"world_size", status.world_size},
                     {"counts", counts},
                     {"ranks", ranks},
                     {"eta_seconds", optional_json(status.eta_seconds)}};
  return json.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace vcap::pipeline
