// CsvWriter and format_csv_row.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <ostream>
#include <string_view>

#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/gzip.h"

namespace vcap::io {
namespace {

constexpr size_t kFlushBytes = 1 << 16;

bool needs_quotes(std::string_view field, bool only_field) {
  if (field.empty()) return only_field;
  // A field starting with a byte order mark would lose it when it opens the file.
  if (field.starts_with("\xEF\xBB\xBF")) return true;
  // Blanks at either end: a row of blanks alone would read back as a blank line.
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  if (blank(field.front()) || blank(field.back())) return true;
  return field.find_first_of(",\"\r\n") != std::string_view::npos;
}

}  // namespace

std::string format_csv_row(std::span<const std::string> fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out.push_back(',');
    const std::string& field = fields[i];
    if (!needs_quotes(field, fields.size() == 1)) {
      out += field;
      continue;
    }
    out.push_back('"');
    for (char c : field) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('\n');
  return out;
}

// Either a file descriptor we own (its bytes gzip-compressed or not) or a borrowed ostream,
// with a write buffer.
struct CsvWriter::Sink {
  int fd = -1;
  std::ostream* out = nullptr;
  std::optional<GzipWriter> gzip;
  std::string name;
  std::string buffer;
  std::string compressed;
  bool closed = false;

  Status write_out(std::string_view bytes) {
    if (out != nullptr) {
      out->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      return *out ? Status() : Status::io_error(name + ": write failed");
    }
    return write_all(fd, std::as_bytes(std::span(bytes)), name);
  }

  Status flush() {
    if (buffer.empty()) return Status();
    Status s;
    if (gzip) {
      compressed.clear();
      s = gzip->write(buffer, compressed);
      if (s.ok()) s = write_out(compressed);
    } else {
      s = write_out(buffer);
    }
    buffer.clear();
    return s;
  }

  Status close() {
    if (closed) return Status();
    closed = true;
    Status s = flush();
    if (s.ok() && gzip) {
      compressed.clear();
      s = gzip->finish(compressed);
      if (s.ok()) s = write_out(compressed);
    }
    if (out != nullptr) {
      out->flush();
      if (s.ok() && !*out) s = Status::io_error(name + ": flush failed");
      return s;
    }
    if (s.ok() && ::fsync(fd) != 0 && errno != EINVAL)
      s = Status::from_errno("fsync " + name, errno);
    if (::close(fd) != 0 && s.ok()) s = Status::from_errno("close " + name, errno);
    fd = -1;
    return s;
  }

  ~Sink() {
    if (!closed) (void)close();
  }
};

CsvWriter::CsvWriter(std::unique_ptr<Sink> sink) : sink_(std::move(sink)) {}
CsvWriter::CsvWriter(CsvWriter&&) noexcept = default;
CsvWriter& CsvWriter::operator=(CsvWriter&&) noexcept = default;
CsvWriter::~CsvWriter() = default;

Result<CsvWriter> CsvWriter::open(const std::filesystem::path& path, Mode mode,
                                  Compression compression) {
  auto sink = std::make_unique<Sink>();
  sink->name = path.string();
  if (compression == Compression::kGzip) {
    Result<GzipWriter> gzip = GzipWriter::create(sink->name);
    if (!gzip) return gzip.status();
    sink->gzip.emplace(std::move(*gzip));
  }
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == Mode::kAppend ? O_APPEND : O_TRUNC);
  const int fd = ::open(path.c_str(), flags, 0666);
  if (fd < 0) return Status::from_errno("open " + path.string(), errno);
  sink->fd = fd;
  return CsvWriter(std::move(sink));
}

CsvWriter CsvWriter::to_stream(std::ostream& out, std::string name) {
  auto sink = std::make_unique<Sink>();
  sink->out = &out;
  sink->name = std::move(name);
  return CsvWriter(std::move(sink));
}

Status CsvWriter::write_row(std::span<const std::string> fields) {
  if (sink_->closed) return Status::internal(sink_->name + ": write_row after close");
  sink_->buffer += format_csv_row(fields);
  if (sink_->buffer.size() >= kFlushBytes) return sink_->flush();
  return Status();
}

Status CsvWriter::flush() {
  if (sink_->closed) return Status();
  Status s = sink_->flush();
  if (s.ok() && sink_->out != nullptr) {
    sink_->out->flush();
    if (!*sink_->out) s = Status::io_error(sink_->name + ": flush failed");
  }
  return s;
}

Status CsvWriter::close() { return sink_->close(); }

}  // namespace vcap::io
