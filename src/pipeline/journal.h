// Journal: the durable record of finished clips of one rank, one line per clip.
//
// Path: "<output>.rank<R>-of-<W>.journal" beside the output CSV. Every line is
//   <crc32 of the JSON, 8 lower-case hex digits> <space> <one JSON object> <\n>
// Line 1 is the header {"vcap_journal":1,"rank":R,"world_size":W,"fingerprint":{...}}; then one
// record per finished clip {"row":i,"path":"...","status":"ok","error":"","text":"...",
// "tokens":n,"time":t} ("time" only when known); when the rank has done all its rows, a marker
// {"done":true,"input_rows":N, "rows":k}. A record is written with a single write(2) as soon as the
// clip finishes, so a killed process (kill -9) loses nothing it reported; fsync runs at least every
// kSyncInterval and at the end, which bounds what a machine crash can lose.
//
// Reading tolerates a torn last line (no newline, bad checksum, NUL bytes after a power loss):
// it is ignored, and JournalWriter::resume cuts it off before appending. A damaged line in the
// middle is skipped and counted (its row will be captioned again). A damaged header is an error.
#ifndef VCAP_PIPELINE_JOURNAL_H_
#define VCAP_PIPELINE_JOURNAL_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "pipeline/clip_status.h"

namespace vcap::pipeline {

inline constexpr std::chrono::seconds kSyncInterval{2};

struct JournalHeader {
  int rank = 0;
  int world_size = 1;
  std::string fingerprint_json;  // the run fingerprint, canonical JSON (see fingerprint.h)
};

struct JournalRecord {
  uint64_t row_index = 0;
  std::string path;  // the CSV's `path` field, checked again at merge
  ClipStatus status = ClipStatus::kOk;
  std::string error;  // one line; empty for ok
  std::string text;   // the caption
  int64_t output_tokens = 0;
  // When the clip finished, in seconds since the Unix epoch (`vcap status` derives rates from
  // it); 0 when unknown: rows kept by --retry, journals of earlier versions.
  double finished_at = 0;
};

// What a scan found.
struct JournalScan {
  JournalHeader header;
  uint64_t records = 0;          // good records seen
  uint64_t damaged_lines = 0;    // complete lines that failed the checksum or did not parse
  bool torn_tail = false;        // the file ended in an incomplete line
  uint64_t valid_bytes = 0;      // offset just after the last complete line
  bool done = false;             // the last record is followed by a done marker
  uint64_t done_input_rows = 0;  // its input_rows
  uint64_t done_line_begin = 0;  // its offset: what a run that goes on cuts
};

// Now, as a record's finished_at: seconds since the Unix epoch.
double unix_time_now();

// "<output>.rank<R>-of-<W>.journal"
std::filesystem::path journal_path(const std::filesystem::path& output, int rank, int world_size);

// CRC-32 (IEEE 802.3, as zlib) of `bytes`.
uint32_t crc32(std::string_view bytes);

// Reads a journal record by record (the merge pulls from several at once). Move-only.
class JournalReader {
 public:
  // Opens `path` and reads its header. kNotFound when absent; kCorruption when line 1 is
  // complete but not a valid header. A file holding only a torn header opens as empty
  // (header().world_size == 0).
  static Result<JournalReader> open(const std::filesystem::path& path);

  JournalReader(JournalReader&&) noexcept;
  JournalReader& operator=(JournalReader&&) noexcept;
  ~JournalReader();

  // The next good record; false at the end (or at a torn tail). Damaged lines are skipped and
  // counted, done markers are noted in scan().
  Result<bool> next(JournalRecord& record);

  const JournalHeader& header() const { return scan_.header; }
  // Totals so far (complete once next() returned false).
  const JournalScan& scan() const { return scan_; }

  // Where the line of the record next() gave last begins.
  uint64_t record_offset() const { return record_offset_; }
  // That record again, by its offset, read through a second handle so that next() goes on where
  // it was: the merge keeps the offsets of rows that come early, not their captions.
  // kCorruption when no good record begins there.
  Result<JournalRecord> record_at(uint64_t offset);

 private:
  struct File;
  JournalReader(std::filesystem::path path, std::unique_ptr<File> file);
  Result<std::optional<std::string>> next_line();

  std::filesystem::path path_;
  std::unique_ptr<File> file_;
  JournalScan scan_;
  uint64_t offset_ = 0;
  uint64_t record_offset_ = 0;
};

// Reads the journal at `path`, calling `visit` for every good record in file order. A non-ok
// Status from `visit` stops the scan and is returned. kNotFound when the file is absent;
// kCorruption when line 1 is complete but is not a valid header. A file whose only content is
// a torn header reads as empty (header.world_size == 0, valid_bytes == 0).
Result<JournalScan> scan_journal(const std::filesystem::path& path,
                                 const std::function<Status(JournalRecord&&)>& visit);

// Appends records to one journal. Move-only; closes (after an fsync) on destruction.
// Not thread-safe: one writer per journal (one engine thread of one rank).
class JournalWriter {
 public:
  // Creates (or replaces) `path` with `header` as its first line, fsynced with its folder.
  static Result<JournalWriter> create(const std::filesystem::path& path,
                                      const JournalHeader& header);
  // Opens an existing journal for appending after cutting it to `valid_bytes` (from a scan).
  static Result<JournalWriter> resume(const std::filesystem::path& path, uint64_t valid_bytes);

  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  ~JournalWriter();

  // Appends one record with one write(2); fsyncs when kSyncInterval has passed since the last.
  Status append(const JournalRecord& record);
  // Appends the done marker and fsyncs.
  Status mark_done(uint64_t input_rows, uint64_t rows);
  Status sync();

  const std::filesystem::path& path() const { return path_; }

 private:
  JournalWriter(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status write_line(const std::string& json);
  void close_file();

  std::filesystem::path path_;
  int fd_ = -1;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
};

// The done marker's input_rows when the journal's last complete line is a done marker and
// nothing follows it; nullopt otherwise (absent file, unfinished, torn tail). Reads only the
// end of the file, so every rank can check every other rank cheaply.
Result<std::optional<uint64_t>> read_done_marker(const std::filesystem::path& path);

// A clip's path as members of a JSON object: "path", UTF-8 (invalid bytes replaced: for people),
// and "path_hex", its bytes, when it is not UTF-8: a Linux file name is bytes (a Latin-1 name
// from an old archive), and the merge matches the journal's paths with the CSV's byte for byte.
void put_path(nlohmann::json& json, const std::string& path);
// The path put_path stored; nullopt when "path" is absent or either member is malformed.
std::optional<std::string> get_path(const nlohmann::json& json);

// The line for one record / header / done marker, without the trailing newline (exposed for
// tests that build damaged journals).
std::string journal_line(const JournalRecord& record);
std::string journal_header_line(const JournalHeader& header);
std::string journal_done_line(uint64_t input_rows, uint64_t rows);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_JOURNAL_H_
