#include "pipeline/merge.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "io/atomic_file.h"
#include "io/csv.h"
#include "pipeline/fingerprint.h"
#include "pipeline/journal.h"
#include "pipeline/meta_table.h"

namespace vcap::pipeline {
namespace {

// Pulls one rank's records in row order. Records that come early are read again when their row
// is due; only their offsets wait, 16 bytes each: after a retry a journal holds every kept row
// before the retried ones, and their captions would fill memory, not a small reorder buffer.
class RankCursor {
 public:
  RankCursor(JournalReader reader, std::filesystem::path path, int rank, int world_size)
      : reader_(std::move(reader)), path_(std::move(path)), rank_(rank), world_size_(world_size) {}

  // The record of `row` (rows before it were taken already); nullopt when the journal ends
  // without one.
  Result<std::optional<JournalRecord>> take(uint64_t row, uint64_t& duplicates) {
    // Every waiting row is above the rows taken: `row`, if it waits, is the first.
    if (first_ < early_.size() && early_[first_].row == row) {
      const uint64_t offset = early_[first_].offset;
      if (++first_ >= 4096 && 2 * first_ >= early_.size()) {  // drop the taken ones
        early_.erase(early_.begin(), early_.begin() + static_cast<std::ptrdiff_t>(first_));
        first_ = 0;
      }
      Result<JournalRecord> record = reader_.record_at(offset);
      if (!record) return record.status();
      return std::optional<JournalRecord>(std::move(*record));
    }
    JournalRecord record;
    while (true) {
      Result<bool> more = reader_.next(record);
      if (!more) return more.status();
      if (!*more) return std::optional<JournalRecord>();
      if (record.row_index % static_cast<uint64_t>(world_size_) != static_cast<uint64_t>(rank_))
        return Status::corruption(path_.string() + ": holds row " +
                                  std::to_string(record.row_index) + " of another rank");
      if (record.row_index == row) return std::optional<JournalRecord>(std::move(record));
      if (record.row_index < row || !wait(record.row_index, reader_.record_offset())) {
        ++duplicates;  // the first record of a row wins
        continue;
      }
    }
  }

  // After the last input row: an error when the journal holds rows beyond the input.
  Status check_nothing_left(uint64_t input_rows, uint64_t& duplicates) {
    if (first_ < early_.size()) return beyond_input(early_[first_].row, input_rows);
    JournalRecord record;
    while (true) {
      Result<bool> more = reader_.next(record);
      if (!more) return more.status();
      if (!*more) return Status();
      if (record.row_index >= input_rows) return beyond_input(record.row_index, input_rows);
      ++duplicates;
    }
  }

  const JournalScan& scan() const { return reader_.scan(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Early {
    uint64_t row;
    uint64_t offset;
  };

  // Notes `row` as come early, keeping early_ sorted (records come nearly in row order: at the
  // end, mostly); false when it waits already.
  bool wait(uint64_t row, uint64_t offset) {
    if (first_ == early_.size() || early_.back().row < row) {
      early_.push_back({row, offset});
      return true;
    }
    const auto by_row = [](const Early& early, uint64_t r) { return early.row < r; };
    const auto at = std::lower_bound(early_.begin() + static_cast<std::ptrdiff_t>(first_),
                                     early_.end(), row, by_row);
    if (at != early_.end() && at->row == row) return false;
    early_.insert(at, {row, offset});
    return true;
  }

  Status beyond_input(uint64_t row, uint64_t input_rows) const {
    return Status::invalid_argument(path_.string() + ": has row " + std::to_string(row) +
                                    " but the input has only " + std::to_string(input_rows) +
                                    " rows: the input CSV changed; rerun with --restart");
  }

  JournalReader reader_;
  std::filesystem::path path_;
  int rank_;
  int world_size_;
  std::vector<Early> early_;  // rows that came early, sorted; those before first_ are taken
  size_t first_ = 0;
};

Result<std::vector<RankCursor>> open_cursors(const std::filesystem::path& output, int world_size,
                                             const std::optional<std::string>& expected) {
  std::vector<RankCursor> cursors;
  std::optional<std::string> fingerprint = expected;
  for (int rank = 0; rank < world_size; ++rank) {
    const std::filesystem::path path = journal_path(output, rank, world_size);
    Result<JournalReader> reader = JournalReader::open(path);
    if (!reader) return reader.status();
    const JournalHeader& header = reader->header();
    if (header.rank != rank || header.world_size != world_size)
      return Status::corruption(path.string() + ": header names another rank or world size");
    if (fingerprint && *fingerprint != header.fingerprint_json) {
      return Status::invalid_argument(
          path.string() + " was made with other settings (" +
          fingerprint_difference(header.fingerprint_json, *fingerprint) +
          "); rerun that rank with the same options, or rerun all with --restart");
    }
    fingerprint = header.fingerprint_json;
    cursors.emplace_back(std::move(*reader), path, rank, world_size);
  }
  return cursors;
}

// Removes a file on destruction unless released.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::filesystem::path path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove(path_, ignored);
  }
  void release() { path_.clear(); }

 private:
  std::filesystem::path path_;
};

Status write_merged(const std::filesystem::path& meta_path, const std::filesystem::path& temp,
                    io::Compression compression, std::vector<RankCursor>& cursors,
                    MergeReport& report) {
  Result<MetaReader> meta = MetaReader::open(meta_path);
  if (!meta) return meta.status();
  const OutputLayout layout = output_layout(meta->columns());
  Result<io::CsvWriter> writer =
      io::CsvWriter::open(temp, io::CsvWriter::Mode::kTruncate, compression);
  if (!writer) return writer.status();
  if (Status status = writer->write_row(layout.columns); !status.ok()) return status;
  const auto world = static_cast<uint64_t>(cursors.size());
  std::vector<std::string> fields;
  while (true) {
    Result<bool> more = meta->next(fields);
    if (!more) return more.status();
    if (!*more) break;
    const uint64_t row = meta->rows_read() - 1;
    RankCursor& cursor = cursors[row % world];
    Result<std::optional<JournalRecord>> record = cursor.take(row, report.duplicate_records);
    if (!record) return record.status();
    const std::string& path = fields[meta->path_column()];
    if (!record->has_value()) {
      return Status::not_found("row " + std::to_string(row) + " ('" + path +
                               "') has no record in " + cursor.path().string() +
                               "; rerun `vcap caption` with the same options to finish it");
    }
    JournalRecord& found = **record;
    if (found.path != path) {
      return Status::invalid_argument(
          "row " + std::to_string(row) + ": the CSV has path '" + path + "' but " +
          cursor.path().string() + " has '" + found.path +
          "': the input CSV changed since captioning started; rerun with --restart");
    }
    ++report.counts[found.status];
    std::vector<std::string> out = output_row(layout, std::move(fields), std::move(found.text),
                                              clip_status_name(found.status), found.error);
    if (Status status = writer->write_row(out); !status.ok()) return status;
    fields.clear();
  }
  report.rows = meta->rows_read();
  for (RankCursor& cursor : cursors) {
    if (Status status = cursor.check_nothing_left(report.rows, report.duplicate_records);
        !status.ok())
      return status;
    report.damaged_lines += cursor.scan().damaged_lines;
  }
  return writer->close();
}

Status integrity_failure(const std::filesystem::path& temp, const std::string& what) {
  return Status::internal("integrity check of the merged output " + temp.string() +
                          " failed: " + what + " (journals kept; please report this)");
}

// Reads the written file back next to the input: same rows, same input fields, valid statuses.
Status verify_output(const std::filesystem::path& meta_path, const std::filesystem::path& temp) {
  Result<MetaReader> meta = MetaReader::open(meta_path);
  if (!meta) return meta.status();
  const OutputLayout layout = output_layout(meta->columns());
  Result<io::CsvReader> written = io::CsvReader::open(temp);
  if (!written) return written.status();
  Result<std::vector<std::string>> header = written->read_header();
  if (!header || *header != layout.columns) return integrity_failure(temp, "wrong header");
  const size_t input_columns = meta->columns().size();
  std::vector<std::string> in;
  std::vector<std::string> out;
  while (true) {
    Result<bool> more_in = meta->next(in);
    Result<bool> more_out = written->next_row(out);
    if (!more_in) return more_in.status();
    if (!more_out) return integrity_failure(temp, more_out.status().message());
    if (*more_in != *more_out) return integrity_failure(temp, "row count differs from the input");
    if (!*more_in) return Status();
    const std::string row = "row " + std::to_string(meta->rows_read() - 1);
    for (size_t c = 0; c < input_columns; ++c) {
      if (c == layout.text_column || c == layout.status_column || c == layout.error_column)
        continue;
      if (in[c] != out[c]) return integrity_failure(temp, row + " differs from the input");
    }
    std::optional<ClipStatus> status = parse_clip_status(out[layout.status_column]);
    if (!status) return integrity_failure(temp, row + " has no valid caption_status");
    if (!has_caption(*status) && !out[layout.text_column].empty())
      return integrity_failure(temp,
                               row + " has a caption but status " + clip_status_name(*status));
  }
}

}  // namespace

Result<std::vector<std::pair<int, int>>> list_journals(const std::filesystem::path& output) {
  std::filesystem::path folder = output.parent_path();
  if (folder.empty()) folder = ".";
  const std::string prefix = output.filename().string() + ".rank";
  const std::string suffix = ".journal";
  std::vector<std::pair<int, int>> journals;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() ||
        name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    int rank = -1;
    int world = -1;
    char tail = 0;
    const std::string middle =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (std::sscanf(middle.c_str(), "%d-of-%d%c", &rank, &world, &tail) == 2 && rank >= 0 &&
        world > rank)
      journals.emplace_back(rank, world);
  }
  if (error) return Status::from_errno("cannot list " + folder.string(), error.value());
  std::sort(journals.begin(), journals.end());
  return journals;
}

Result<int> journal_world_size(const std::filesystem::path& output) {
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  if (journals->empty())
    return Status::not_found("no journals " + output.string() + ".rank*-of-*.journal found");
  const int world = journals->front().second;
  for (const auto& [rank, other] : *journals) {
    if (other != world) {
      return Status::invalid_argument("journals of world sizes " + std::to_string(world) + " and " +
                                      std::to_string(other) + " beside " + output.string() +
                                      "; remove the stale ones");
    }
  }
  return world;
}

Result<std::vector<int>> unfinished_ranks(const std::filesystem::path& output, int world_size,
                                          uint64_t input_rows) {
  std::vector<int> unfinished;
  for (int rank = 0; rank < world_size; ++rank) {
    Result<std::optional<uint64_t>> done = read_done_marker(journal_path(output, rank, world_size));
    if (!done) return done.status();
    if (!done->has_value() || **done != input_rows) unfinished.push_back(rank);
  }
  return unfinished;
}

namespace {

constexpr const char* kMergingSuffix = ".merging.";

// The temporary outputs of mergers killed before their rename ("<output>.merging.<pid>", as
// large as the output). Under the merge lock no other merger is writing one.
void remove_stale_merges(const std::filesystem::path& output) {
  const std::filesystem::path folder =
      output.parent_path().empty() ? std::filesystem::path(".") : output.parent_path();
  const std::string prefix = output.filename().string() + kMergingSuffix;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) == 0) std::filesystem::remove(entry.path(), error);
  }
}

}  // namespace

Result<MergeReport> merge_journals(const std::filesystem::path& meta_path,
                                   const std::filesystem::path& output, int world_size,
                                   const std::optional<std::string>& expected_fingerprint) {
  // The output's name decides its compression (gzip for .gz), not the temporary file's.
  Result<io::Compression> compression = io::output_compression(output);
  if (!compression) return compression.status();
  Result<std::vector<RankCursor>> cursors = open_cursors(output, world_size, expected_fingerprint);
  if (!cursors) return cursors.status();
  remove_stale_merges(output);
  std::filesystem::path temp = output;
  temp += kMergingSuffix + std::to_string(::getpid());
  TempFileGuard guard(temp);
  MergeReport report;
  report.output = output;
  if (Status status = write_merged(meta_path, temp, *compression, *cursors, report); !status.ok())
    return status;
  if (Status status = verify_output(meta_path, temp); !status.ok()) return status;
  std::error_code error;
  // A replaced output keeps its permissions (a private 0600 file stays private), as one
  // rewritten in place would. A filesystem without modes (vfat, some CIFS mounts) refuses: the
  // output is written all the same.
  const std::filesystem::file_status old_output = std::filesystem::status(output, error);
  if (!error && std::filesystem::is_regular_file(old_output))
    std::filesystem::permissions(temp, old_output.permissions(), error);
  std::filesystem::rename(temp, output, error);
  if (error)
    return Status::from_errno("cannot rename " + temp.string() + " to " + output.string(),
                              error.value());
  guard.release();
  std::filesystem::path folder = output.parent_path();
  if (Status status = io::sync_directory(folder.empty() ? "." : folder); !status.ok())
    return status;
  cursors->clear();  // close the journals before removing them
  for (int rank = 0; rank < world_size; ++rank)
    std::filesystem::remove(journal_path(output, rank, world_size), error);
  return report;
}

}  // namespace vcap::pipeline
