#include "pipeline/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/file_sync.h"

namespace vcap::pipeline {
namespace {

using Json = nlohmann::json;

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t value = i;
    for (int bit = 0; bit < 8; ++bit) value = (value & 1) ? 0xEDB88320u ^ (value >> 1) : value >> 1;
    table[i] = value;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

std::string framed(const std::string& json) {
  char prefix[10];
  std::snprintf(prefix, sizeof(prefix), "%08x ", crc32(json));
  return prefix + json;
}

// Unframes one complete line; nullopt when the checksum or the JSON is bad.
std::optional<Json> parse_line(std::string_view line) {
  if (line.size() < 10 || line[8] != ' ') return std::nullopt;
  uint32_t expected = 0;
  for (int i = 0; i < 8; ++i) {
    const char c = line[static_cast<size_t>(i)];
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    expected = expected * 16 + static_cast<uint32_t>(digit);
  }
  std::string_view payload = line.substr(9);
  if (crc32(payload) != expected) return std::nullopt;
  Json json = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

std::optional<JournalHeader> to_header(const Json& json) {
  try {
    if (json.value("vcap_journal", 0) != 1) return std::nullopt;
    JournalHeader header;
    header.rank = json.at("rank").get<int>();
    header.world_size = json.at("world_size").get<int>();
    header.fingerprint_json = json.at("fingerprint").dump();
    return header;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::optional<JournalRecord> to_record(const Json& json) {
  try {
    JournalRecord record;
    record.row_index = json.at("row").get<uint64_t>();
    record.path = json.at("path").get<std::string>();
    std::optional<ClipStatus> status = parse_clip_status(json.at("status").get<std::string>());
    if (!status) return std::nullopt;
    record.status = *status;
    record.error = json.at("error").get<std::string>();
    record.text = json.at("text").get<std::string>();
    record.output_tokens = json.value("tokens", int64_t{0});
    return record;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

// Handles one complete line (header or body) of a scan.
Status scan_line(std::string_view line, bool first, const std::filesystem::path& path,
                 JournalScan& scan, const std::function<Status(JournalRecord&&)>& visit) {
  std::optional<Json> json = parse_line(line);
  if (first) {
    std::optional<JournalHeader> header = json ? to_header(*json) : std::nullopt;
    if (!header)
      return Status::corruption(path.string() + ": line 1 is not a vcap journal header");
    scan.header = std::move(*header);
    return Status();
  }
  if (json && json->value("done", false)) {
    scan.done = true;
    scan.done_input_rows = json->value("input_rows", uint64_t{0});
    return Status();
  }
  std::optional<JournalRecord> record = json ? to_record(*json) : std::nullopt;
  if (!record) {
    ++scan.damaged_lines;
    return Status();
  }
  ++scan.records;
  return visit(std::move(*record));
}

}  // namespace

uint32_t crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char c : bytes) crc = kCrcTable[(crc ^ static_cast<uint8_t>(c)) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::filesystem::path journal_path(const std::filesystem::path& output, int rank, int world_size) {
  std::filesystem::path path = output;
  path += ".rank" + std::to_string(rank) + "-of-" + std::to_string(world_size) + ".journal";
  return path;
}

std::string journal_line(const JournalRecord& record) {
  Json json = {{"row", record.row_index},  {"path", record.path},
               {"status", clip_status_name(record.status)},
               {"error", record.error},    {"text", record.text},
               {"tokens", record.output_tokens}};
  // Invalid UTF-8 (a model emitting a partial character) is replaced, never an exception.
  return framed(json.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string journal_header_line(const JournalHeader& header) {
  Json fingerprint = Json::parse(header.fingerprint_json, nullptr, false);
  Json json = {{"vcap_journal", 1},
               {"rank", header.rank},
               {"world_size", header.world_size},
               {"fingerprint", fingerprint.is_discarded() ? Json::object() : fingerprint}};
  return framed(json.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string journal_done_line(uint64_t input_rows, uint64_t rows) {
  Json json = {{"done", true}, {"input_rows", input_rows}, {"rows", rows}};
  return framed(json.dump());
}

Result<JournalScan> scan_journal(const std::filesystem::path& path,
                                 const std::function<Status(JournalRecord&&)>& visit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code error;
    if (!std::filesystem::exists(path, error))
      return Status::not_found(path.string() + ": no such journal");
    return Status::from_errno(path.string(), errno);
  }
  JournalScan scan;
  scan.header.world_size = 0;
  std::string line;
  uint64_t offset = 0;
  bool first = true;
  while (std::getline(in, line)) {
    if (in.eof()) {  // no newline: a torn last line
      scan.torn_tail = true;
      break;
    }
    offset += line.size() + 1;
    if (Status status = scan_line(line, first, path, scan, visit); !status.ok()) return status;
    first = false;
    scan.valid_bytes = offset;
  }
  if (in.bad()) return Status::io_error(path.string() + ": read failed");
  return scan;
}

Result<JournalWriter> JournalWriter::create(const std::filesystem::path& path,
                                            const JournalHeader& header) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("cannot create journal " + path.string(), errno);
  JournalWriter writer(path, fd);
  if (Status status = writer.write_line(journal_header_line(header)); !status.ok()) return status;
  if (Status status = writer.sync(); !status.ok()) return status;
  if (Status status = sync_parent_directory(path); !status.ok()) return status;
  return writer;
}

Result<JournalWriter> JournalWriter::resume(const std::filesystem::path& path,
                                            uint64_t valid_bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("cannot open journal " + path.string(), errno);
  JournalWriter writer(path, fd);
  if (::ftruncate(fd, static_cast<off_t>(valid_bytes)) != 0)
    return Status::from_errno("cannot cut the torn end of journal " + path.string(), errno);
  return writer;
}

JournalWriter::JournalWriter(JournalWriter&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), last_sync_(other.last_sync_) {
  other.fd_ = -1;
}

JournalWriter& JournalWriter::operator=(JournalWriter&& other) noexcept {
  if (this != &other) {
    close_file();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    last_sync_ = other.last_sync_;
    other.fd_ = -1;
  }
  return *this;
}

JournalWriter::~JournalWriter() { close_file(); }

void JournalWriter::close_file() {
  if (fd_ < 0) return;
  ::fsync(fd_);  // best effort: a failure here cannot be reported from a destructor
  ::close(fd_);
  fd_ = -1;
}

Status JournalWriter::write_line(const std::string& json) {
  const std::string line = json + '\n';
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno("cannot append to journal " + path_.string(), errno);
    written += static_cast<size_t>(n);
  }
  return Status();
}

Status JournalWriter::append(const JournalRecord& record) {
  if (Status status = write_line(journal_line(record)); !status.ok()) return status;
  if (std::chrono::steady_clock::now() - last_sync_ >= kSyncInterval) return sync();
  return Status();
}

Status JournalWriter::mark_done(uint64_t input_rows, uint64_t rows) {
  if (Status status = write_line(journal_done_line(input_rows, rows)); !status.ok()) return status;
  return sync();
}

Status JournalWriter::sync() {
  if (::fsync(fd_) != 0) return Status::from_errno("cannot fsync journal " + path_.string(), errno);
  last_sync_ = std::chrono::steady_clock::now();
  return Status();
}

}  // namespace vcap::pipeline
