#include "pipeline/resume_state.h"

#include "pipeline/crash_guard.h"
#include "pipeline/fingerprint.h"
#include "pipeline/merge.h"

namespace vcap::pipeline {
namespace {

// Whether the journal at `path` holds a clip record. One without (a run that stopped before its
// first clip finished, e.g. because its device was missing) can be discarded without loss; a
// missing file has none.
Result<bool> has_records(JournalReader& reader) {
  JournalRecord record;
  return reader.next(record);
}

Result<bool> has_records(const std::filesystem::path& path) {
  Result<JournalReader> reader = JournalReader::open(path);
  if (!reader && reader.status().code() == StatusCode::kNotFound) return false;
  if (!reader) return reader.status();
  return has_records(*reader);
}

}  // namespace

uint32_t path_check(const std::string& path) { return crc32(path) | 1u; }

bool ResumeState::add(uint64_t row, const std::string& path, ClipStatus status) {
  uint32_t& slot = done_path_crc[row / static_cast<uint64_t>(world_size)];
  if (slot != 0) return false;
  slot = path_check(path);
  ++done;
  if (!has_caption(status)) ++failed;
  return true;
}

std::string csv_changed(const std::filesystem::path& journal, const std::string& what) {
  return journal.string() + ": " + what +
         ": the input CSV changed since this run started; pass --restart to start over";
}

Status clear_or_refuse_stale(const CaptionOptions& options, const std::filesystem::path& output,
                             const Shard& shard) {
  Result<std::vector<std::pair<int, int>>> journals = list_journals(output);
  if (!journals) return journals.status();
  for (const auto& [rank, world] : *journals) {
    const std::filesystem::path path = journal_path(output, rank, world);
    const bool mine = rank == shard.rank && world == shard.world_size;
    const bool stale = world != shard.world_size;
    bool discard = options.restart && (mine || stale);
    if (stale && !options.restart) {
      Result<bool> records = has_records(path);
      discard = records.ok() && !*records;  // an unreadable one is refused below, as it was
    }
    if (stale && !discard) {
      return Status::invalid_argument(
          "found " + path.string() + " from a run with world size " + std::to_string(world) +
          " (this run has " + std::to_string(shard.world_size) +
          "); rerun with that world size to resume it, or pass --restart to discard it");
    }
    if (discard) {
      std::error_code error;
      std::filesystem::remove(path, error);
      if (error) return Status::from_errno("cannot remove " + path.string(), error.value());
      forget_suspects(path);  // starting over forgets the strikes too (crash_guard.h)
    }
  }
  return Status();
}

Result<ResumeState> load_journal(const std::filesystem::path& path, const Shard& shard,
                                 uint64_t total_rows, const std::string& fingerprint) {
  ResumeState state;
  state.world_size = shard.world_size;
  state.done_path_crc.assign(shard.rows_owned(total_rows), 0);
  Result<JournalReader> reader = JournalReader::open(path);
  if (!reader && reader.status().code() == StatusCode::kNotFound) return state;
  if (!reader) return reader.status();
  const JournalHeader& header = reader->header();
  if (header.world_size == 0) return state;  // only a torn header: start it again
  state.exists = true;
  if (header.rank != shard.rank || header.world_size != shard.world_size)
    return Status::corruption(path.string() + ": header names another rank or world size");
  if (header.fingerprint_json != fingerprint) {
    // Made with other settings but holding no result: replaced by this run's journal.
    Result<bool> records = has_records(*reader);
    if (!records) return records.status();
    if (!*records) {
      // Strikes were given under the other settings (a clip that killed the process at its
      // first try, say, before a lower --height): this run tries those rows anew.
      forget_suspects(path);
      state.exists = false;
      return state;
    }
    return Status::invalid_argument(
        path.string() + " holds results made with other settings (" +
        fingerprint_difference(header.fingerprint_json, fingerprint) +
        "); rerun with the same settings to resume, or pass --restart to discard them");
  }
  JournalRecord record;
  while (true) {
    Result<bool> more = reader->next(record);
    if (!more) return more.status();
    if (!*more) break;
    if (record.row_index >= total_rows || !shard.owns(record.row_index))
      return Status::invalid_argument(csv_changed(
          path, "row " + std::to_string(record.row_index) + " is not a row of this rank"));
    state.add(record.row_index, record.path, record.status);  // a duplicate: the first wins
  }
  const JournalScan& scan = reader->scan();
  if (scan.done && scan.done_input_rows > total_rows)
    return Status::invalid_argument(
        csv_changed(path, "it was finished for " + std::to_string(scan.done_input_rows) +
                              " input rows, the CSV has " + std::to_string(total_rows)));
  // Finished for fewer rows: rows were appended to the CSV since (the merge found rows without
  // a record). This run captions them, after cutting the done marker, so that no other rank
  // takes the journal for finished meanwhile.
  const bool grown = scan.done && scan.done_input_rows < total_rows;
  state.finished = scan.done && !grown;
  state.valid_bytes = grown ? scan.done_line_begin : scan.valid_bytes;
  state.damaged_lines = scan.damaged_lines;
  return state;
}

}  // namespace vcap::pipeline
