#include "pipeline/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hub/sha256.h"
#include "io/atomic_file.h"
#include "text/utf8.h"

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
    std::optional<std::string> path = get_path(json);
    if (!path) return std::nullopt;
    record.path = std::move(*path);
    std::optional<ClipStatus> status = parse_clip_status(json.at("status").get<std::string>());
    if (!status) return std::nullopt;
    record.status = *status;
    record.error = json.at("error").get<std::string>();
    record.text = json.at("text").get<std::string>();
    record.output_tokens = json.value("tokens", int64_t{0});
    record.finished_at = json.value("time", 0.0);
    return record;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::optional<JournalRecord> to_record_line(std::string_view line, JournalScan& scan) {
  std::optional<Json> json = parse_line(line);
  if (json && json->value("done", false)) {
    scan.done = true;
    scan.done_input_rows = json->value("input_rows", uint64_t{0});
    return std::nullopt;
  }
  std::optional<JournalRecord> record = json ? to_record(*json) : std::nullopt;
  if (!record) ++scan.damaged_lines;
  return record;
}

}  // namespace

uint32_t crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char c : bytes) crc = kCrcTable[(crc ^ static_cast<uint8_t>(c)) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

double unix_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::filesystem::path journal_path(const std::filesystem::path& output, int rank, int world_size) {
  std::filesystem::path path = output;
  path += ".rank" + std::to_string(rank) + "-of-" + std::to_string(world_size) + ".journal";
  return path;
}

void put_path(Json& json, const std::string& path) {
  if (text::is_valid_utf8(path)) {
    json["path"] = path;
    return;
  }
  json["path"] = text::repair_utf8(path);
  json["path_hex"] = hub::to_hex({reinterpret_cast<const uint8_t*>(path.data()), path.size()});
}

std::optional<std::string> get_path(const Json& json) {
  const auto path = json.find("path");
  if (path == json.end() || !path->is_string()) return std::nullopt;
  const auto hex = json.find("path_hex");
  if (hex == json.end()) return path->get<std::string>();
  if (!hex->is_string()) return std::nullopt;
  const auto& digits = hex->get_ref<const std::string&>();
  if (digits.size() % 2 != 0) return std::nullopt;
  const auto value = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  std::string bytes;
  for (size_t i = 0; i < digits.size(); i += 2) {
    const int high = value(digits[i]);
    const int low = value(digits[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::string journal_line(const JournalRecord& record) {
  Json json = {{"row", record.row_index},
               {"status", clip_status_name(record.status)},
               {"error", record.error},
               {"text", record.text},
               {"tokens", record.output_tokens}};
  put_path(json, record.path);
  if (record.finished_at > 0) json["time"] = record.finished_at;
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

struct JournalReader::File {
  std::ifstream in;
  std::ifstream again;      // record_at's, opened on its first call
  uint64_t again_next = 0;  // where its last line ended: no seek (and refill) for the next one
};

JournalReader::JournalReader(std::filesystem::path path, std::unique_ptr<File> file)
    : path_(std::move(path)), file_(std::move(file)) {
  scan_.header.world_size = 0;
}
JournalReader::JournalReader(JournalReader&&) noexcept = default;
JournalReader& JournalReader::operator=(JournalReader&&) noexcept = default;
JournalReader::~JournalReader() = default;

Result<JournalReader> JournalReader::open(const std::filesystem::path& path) {
  auto file = std::make_unique<File>();
  file->in.open(path, std::ios::binary);
  if (!file->in) {
    std::error_code error;
    if (!std::filesystem::exists(path, error))
      return Status::not_found(path.string() + ": no such journal");
    return Status::from_errno(path.string(), errno);
  }
  JournalReader reader(path, std::move(file));
  Result<std::optional<std::string>> line = reader.next_line();
  if (!line) return line.status();
  if (!line->has_value()) return reader;  // empty, or only a torn header
  std::optional<Json> json = parse_line(**line);
  std::optional<JournalHeader> header = json ? to_header(*json) : std::nullopt;
  if (!header) return Status::corruption(path.string() + ": line 1 is not a vcap journal header");
  reader.scan_.header = std::move(*header);
  return reader;
}

// The next complete line; nullopt at the end or at a torn tail.
Result<std::optional<std::string>> JournalReader::next_line() {
  std::string line;
  if (!std::getline(file_->in, line)) {
    if (file_->in.bad()) return Status::io_error(path_.string() + ": read failed");
    return std::optional<std::string>();
  }
  if (file_->in.eof()) {  // no newline: a torn last line
    scan_.torn_tail = true;
    return std::optional<std::string>();
  }
  offset_ += line.size() + 1;
  scan_.valid_bytes = offset_;
  return std::optional<std::string>(std::move(line));
}

Result<bool> JournalReader::next(JournalRecord& record) {
  while (true) {
    const uint64_t line_begin = offset_;
    Result<std::optional<std::string>> line = next_line();
    if (!line) return line.status();
    if (!line->has_value()) return false;
    const uint64_t damaged = scan_.damaged_lines;
    std::optional<JournalRecord> parsed = to_record_line(**line, scan_);
    if (!parsed) {
      if (scan_.damaged_lines == damaged) scan_.done_line_begin = line_begin;  // a done line
      continue;
    }
    scan_.done = false;  // records after a done marker: a run went on (a grown CSV)
    ++scan_.records;
    record_offset_ = line_begin;
    record = std::move(*parsed);
    return true;
  }
}

Result<JournalScan> scan_journal(const std::filesystem::path& path,
                                 const std::function<Status(JournalRecord&&)>& visit) {
  Result<JournalReader> reader = JournalReader::open(path);
  if (!reader) return reader.status();
  JournalRecord record;
  while (true) {
    Result<bool> more = reader->next(record);
    if (!more) return more.status();
    if (!*more) break;
    if (Status status = visit(std::move(record)); !status.ok()) return status;
  }
  return reader->scan();
}

Result<JournalRecord> JournalReader::record_at(uint64_t offset) {
  std::ifstream& again = file_->again;
  if (!again.is_open()) again.open(path_, std::ios::binary);
  if (!again.is_open() || !again.good() || offset != file_->again_next) {
    again.clear();
    again.seekg(static_cast<std::streamoff>(offset));
  }
  std::string line;
  if (!again || !std::getline(again, line) || again.eof())
    return Status::io_error(path_.string() + ": cannot read the record at byte " +
                            std::to_string(offset));
  file_->again_next = offset + line.size() + 1;
  JournalScan ignored;
  std::optional<JournalRecord> record = to_record_line(line, ignored);
  if (!record)
    return Status::corruption(path_.string() + ": no record at byte " + std::to_string(offset));
  return std::move(*record);
}

Result<std::optional<uint64_t>> read_done_marker(const std::filesystem::path& path) {
  constexpr std::streamoff kTailBytes = 4096;  // a done line is < 100 bytes
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::optional<uint64_t>();
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > kTailBytes ? size - kTailBytes : 0;
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.seekg(start);
  if (!in.read(tail.data(), static_cast<std::streamsize>(tail.size())))
    return Status::io_error(path.string() + ": read failed");
  if (tail.empty() || tail.back() != '\n') return std::optional<uint64_t>();
  tail.pop_back();
  const size_t line_start = tail.rfind('\n');
  const std::string_view line =
      std::string_view(tail).substr(line_start == std::string::npos ? 0 : line_start + 1);
  std::optional<Json> json = parse_line(line);
  if (!json || !json->value("done", false)) return std::optional<uint64_t>();
  return std::optional<uint64_t>(json->value("input_rows", uint64_t{0}));
}

Result<JournalWriter> JournalWriter::create(const std::filesystem::path& path,
                                            const JournalHeader& header) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("cannot create journal " + path.string(), errno);
  JournalWriter writer(path, fd);
  if (Status status = writer.write_line(journal_header_line(header)); !status.ok()) return status;
  if (Status status = writer.sync(); !status.ok()) return status;
  const std::filesystem::path folder = path.parent_path();
  if (Status status = io::sync_directory(folder.empty() ? "." : folder); !status.ok())
    return status;
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
