#include "pipeline/crash_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "pipeline/caption_run.h"

namespace vcap::pipeline {
namespace {

using Json = nlohmann::json;

std::filesystem::path with_suffix(const std::filesystem::path& journal, const char* suffix) {
  std::filesystem::path path = journal;
  path += suffix;
  return path;
}

// A list file: its id (the in-flight list's maker, or the last list the strikes counted) and its
// rows, in row order.
struct ListFile {
  std::string id;
  std::vector<Json> rows;
};

bool valid_row(const Json& json) {
  const auto integer = [&json](const char* key) {
    return !json.contains(key) || json[key].is_number_integer();
  };
  return json.is_object() && json.contains("row") && json["row"].is_number_unsigned() &&
         get_path(json).has_value() && integer("strikes") && integer("alone");
}

// The list at `path` (empty when absent). A {"done":row} line takes back the row listed before it
// (the in-flight list is a log). Lines that do not read are skipped: a death mid-append tears the
// last line.
ListFile read_list(const std::filesystem::path& path) {
  ListFile list;
  std::map<uint64_t, Json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    Json json = Json::parse(line, nullptr, false);
    if (json.is_object() && json.contains("id") && json["id"].is_string()) {
      list.id = json["id"].get<std::string>();
    } else if (json.is_object() && json.contains("done") && json["done"].is_number_unsigned()) {
      rows.erase(json["done"].get<uint64_t>());
    } else if (valid_row(json)) {
      const auto row = json["row"].get<uint64_t>();
      rows[row] = std::move(json);
    }
  }
  for (auto& row : rows) list.rows.push_back(std::move(row.second));
  return list;
}

Json row_line(uint64_t row, const std::string& path) {
  Json line = {{"row", row}};
  put_path(line, path);
  return line;
}

std::string new_list_id() {
  return std::to_string(::getpid()) + "@" + std::to_string(unix_time_now());
}

// Replaces `path` by rename, so that a death mid-write leaves the previous list whole (a death
// is what the list is for). No fsync: a process's death keeps what it wrote; only a machine's
// would lose it, and with it just a strike.
Status write_list(const std::filesystem::path& path, const std::string& id,
                  const std::vector<Json>& lines) {
  std::filesystem::path temp = path;
  temp += ".tmp";
  {
    errno = 0;
    std::ofstream out(temp, std::ios::trunc);
    out << Json{{"id", id}}.dump() << '\n';
    for (const Json& line : lines)
      out << line.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
    out.flush();
    // The stream keeps no reason; the failed write(2) left it in errno (a full disk: ENOSPC).
    if (!out) {
      return errno != 0 ? Status::from_errno("cannot write " + temp.string(), errno)
                        : Status::io_error("cannot write " + temp.string());
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) return Status::from_errno("cannot rename " + temp.string(), error.value());
  return Status();
}

}  // namespace

std::filesystem::path in_flight_path(const std::filesystem::path& journal) {
  return with_suffix(journal, ".inflight");
}

std::filesystem::path suspects_path(const std::filesystem::path& journal) {
  return with_suffix(journal, ".suspects");
}

namespace {

// The list of the InFlightRows made last and still alive (its path_, never changed after the
// constructor), for forget_rows_in_flight_on_signal; and whether that handler has run, so that a
// list rewritten by another thread in the meantime is removed again.
std::atomic<const char*> signal_list{nullptr};
std::atomic<bool> stopping_by_signal{false};

}  // namespace

InFlightRows::InFlightRows(std::filesystem::path path)
    : path_(std::move(path)), id_(new_list_id()) {
  signal_list.store(path_.c_str(), std::memory_order_release);
}

InFlightRows::~InFlightRows() {
  if (fd_ >= 0) ::close(fd_);
  const char* mine = path_.c_str();
  signal_list.compare_exchange_strong(mine, nullptr, std::memory_order_acq_rel);
}

void forget_rows_in_flight_on_signal() {
  stopping_by_signal.store(true, std::memory_order_release);
  if (const char* list = signal_list.load(std::memory_order_acquire); list != nullptr) {
    ::unlink(list);
  }
}

Status InFlightRows::add(uint64_t row, const std::string& path) {
  const std::lock_guard lock(mutex_);
  rows_[row] = path;
  return append_locked(row_line(row, path));
}

Status InFlightRows::remove(uint64_t row) {
  const std::lock_guard lock(mutex_);
  if (rows_.erase(row) == 0) return Status();
  return append_locked(Json{{"done", row}});
}

Status InFlightRows::clear() {
  const std::lock_guard lock(mutex_);
  rows_.clear();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code error;
  std::filesystem::remove(path_, error);
  if (error) return Status::from_errno("cannot remove " + path_.string(), error.value());
  return Status();
}

Status InFlightRows::append_locked(const Json& event) {
  // Rewritten whole (the rows in flight now) when new, and when the log has grown past twice
  // them: the file stays small, and most events cost one write(2) and no rename.
  if (fd_ < 0 || lines_ > 2 * rows_.size() + kLinesBeforeCompaction) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    std::vector<Json> lines;
    for (const auto& [row, path] : rows_) lines.push_back(row_line(row, path));
    if (Status status = write_list(path_, id_, lines); !status.ok()) return status;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return Status::from_errno("cannot open " + path_.string(), errno);
    // A stop by a signal that another thread handled while this one rewrote the list.
    if (stopping_by_signal.load(std::memory_order_acquire)) ::unlink(path_.c_str());
    lines_ = rows_.size();
    return Status();
  }
  // One write(2) a line, so that a death tears at most the last one.
  const std::string line = event.dump(-1, ' ', false, Json::error_handler_t::replace) + '\n';
  for (size_t written = 0; written < line.size();) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno("cannot write " + path_.string(), errno);
    written += static_cast<size_t>(n);
  }
  ++lines_;
  return Status();
}

Result<std::map<uint64_t, Suspect>> strike_rows_left_in_flight(
    const std::filesystem::path& journal) {
  const ListFile struck = read_list(suspects_path(journal));
  std::map<uint64_t, Suspect> suspects;
  for (const Json& line : struck.rows) {
    suspects[line["row"].get<uint64_t>()] =
        Suspect{*get_path(line), line.value("strikes", 0), line.value("alone", 0)};
  }
  const ListFile flight = read_list(in_flight_path(journal));
  // Counted already when the last start died between saving the strikes and removing the list.
  const bool counted = !flight.id.empty() && flight.id == struck.id;
  if (!flight.rows.empty() && !counted) {
    for (const Json& line : flight.rows) {
      Suspect& suspect = suspects[line["row"].get<uint64_t>()];
      suspect.path = *get_path(line);
      ++suspect.strikes;
      if (flight.rows.size() == 1) ++suspect.alone;
    }
    std::vector<Json> lines;
    for (const auto& [row, suspect] : suspects) {
      Json line = row_line(row, suspect.path);
      line["strikes"] = suspect.strikes;
      line["alone"] = suspect.alone;
      lines.push_back(std::move(line));
    }
    if (Status status = write_list(suspects_path(journal), flight.id, lines); !status.ok())
      return status;
  }
  std::error_code error;
  std::filesystem::remove(in_flight_path(journal), error);
  return suspects;
}

void forget_suspects(const std::filesystem::path& journal) {
  std::error_code error;
  for (const std::filesystem::path& path : {in_flight_path(journal), suspects_path(journal)}) {
    std::filesystem::path temp = path;
    temp += ".tmp";  // left by a death between write_list's write and rename
    std::filesystem::remove(path, error);
    std::filesystem::remove(temp, error);
  }
}

Status skip_rows_struck_twice(const std::map<uint64_t, Suspect>& suspects, const Shard& shard,
                              uint64_t total_rows, ResumeState& resume, JournalWriter& journal,
                              std::FILE* log) {
  int to_caption_alone = 0;
  for (const auto& [row, suspect] : suspects) {
    if (row >= total_rows || !shard.owns(row) || resume.has(row)) continue;
    if (suspect.alone < 2) {
      ++to_caption_alone;
      continue;
    }
    const JournalRecord record{row, suspect.path,   ClipStatus::kInternal, kStruckTwiceMessage, "",
                               0,   unix_time_now()};
    if (Status status = journal.append(record); !status.ok()) return status;
    resume.add(row, suspect.path, ClipStatus::kInternal);
    std::fprintf(log,
                 "vcap: skipping row %llu (%s): the process died twice while captioning it alone "
                 "(caption_status internal; --retry internal tries it again)\n",
                 static_cast<unsigned long long>(row), suspect.path.c_str());
  }
  if (to_caption_alone > 0) {
    std::fprintf(log,
                 "vcap: %d clip(s) were in flight when a vcap process of this rank died: they are "
                 "captioned first, one at a time\n",
                 to_caption_alone);
  }
  return Status();
}

Result<EngineReport> caption_struck_rows_alone(const EngineConfig& config, ClipCaptioner& captioner,
                                               const std::map<uint64_t, Suspect>& suspects,
                                               const CaptionOptions& options, const Shard& shard,
                                               uint64_t total_rows, ResumeState& resume,
                                               InFlightRows& in_flight, const RecordSink& sink,
                                               ProgressReporter& progress) {
  EngineConfig alone = config;
  alone.bs = alone.decode_threads = alone.prefetch = 1;
  EngineReport total;
  for (const auto& [row, suspect] : suspects) {
    if (suspect.alone >= 2 || row >= total_rows || !shard.owns(row) || resume.has(row)) continue;
    bool given = false;
    const JobSource one = [&, row = row, path = suspect.path]() -> Result<std::optional<ClipJob>> {
      if (given) return std::optional<ClipJob>();
      given = true;
      if (Status status = in_flight.add(row, path); !status.ok()) return status;
      return std::optional<ClipJob>(ClipJob{row, path, resolve_clip_path(options.root, path)});
    };
    ClipStatus outcome = ClipStatus::kInternal;
    const RecordSink noting = [&](const JournalRecord& record) {
      outcome = record.status;
      return sink(record);
    };
    Result<EngineReport> part = run_engine(alone, captioner, one, noting, &progress);
    if (!part) return part.status();
    add_engine_report(total, *part);
    resume.add(row, suspect.path, outcome);
  }
  return total;
}

}  // namespace vcap::pipeline
