// CsvReader: the RFC 4180 state machine over a buffered byte stream.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "io/csv.h"
#include "io/gzip.h"

namespace vcap::io {

struct CsvReader::Source {
  std::unique_ptr<std::istream> owned;  // set for files and strings
  std::istream* in = nullptr;
  std::optional<GzipReader> gzip;  // set for gzip-compressed files: `in` holds compressed bytes
  std::string name;
  std::vector<char> buffer = std::vector<char>(1 << 16);
  size_t position = 0;
  size_t size = 0;
  Status failure;  // why reading stopped early (an I/O error, damaged gzip data)

  bool failed() const { return !failure.ok(); }

  // Refills the buffer; false at end of input (or on error, with `failure` set).
  bool refill() {
    position = 0;
    size = 0;
    if (failed()) return false;
    if (gzip) {
      Result<size_t> read = gzip->read(buffer.data(), buffer.size());
      if (!read) {
        failure = read.status();
        return false;
      }
      size = *read;
      return size > 0;
    }
    if (in->eof()) return false;
    in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    size = static_cast<size_t>(in->gcount());
    if (in->bad()) failure = Status::io_error(name + ": read failed");
    return size > 0;
  }
};

CsvReader::CsvReader(std::unique_ptr<Source> source) : source_(std::move(source)) {}
CsvReader::CsvReader(CsvReader&&) noexcept = default;
CsvReader& CsvReader::operator=(CsvReader&&) noexcept = default;
CsvReader::~CsvReader() = default;

Result<CsvReader> CsvReader::open(const std::filesystem::path& path) {
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!file->is_open()) {
    const int err = errno;
    Status s = Status::from_errno("open " + path.string(), err);
    if (err == ENOENT) return Status::not_found(s.message());
    return s;
  }
  // The first bytes say whether the file is compressed (whatever its name, as gzip -d reads
  // it); they are read once, so that pipes work too.
  auto source = std::make_unique<Source>();
  file->read(source->buffer.data(), static_cast<std::streamsize>(source->buffer.size()));
  if (file->bad()) return Status::io_error(path.string() + ": read failed");
  const auto first = static_cast<size_t>(file->gcount());
  const std::string_view first_bytes(source->buffer.data(), first);
  const FileKind kind = sniff_file_kind(first_bytes);
  if (Status status = check_readable_kind(kind, path); !status.ok()) return status;
  if (kind == FileKind::kGzip) {
    source->gzip.emplace(*file, std::string(first_bytes), path.string());
  } else {
    source->size = first;  // the plain bytes already read are the buffer's first fill
  }
  source->in = file.get();
  source->owned = std::move(file);
  source->name = path.string();
  return CsvReader(std::move(source));
}

CsvReader CsvReader::from_stream(std::istream& in, std::string source_name) {
  auto source = std::make_unique<Source>();
  source->in = &in;
  source->name = std::move(source_name);
  return CsvReader(std::move(source));
}

CsvReader CsvReader::from_string(std::string text, std::string source_name) {
  auto source = std::make_unique<Source>();
  source->owned = std::make_unique<std::istringstream>(std::move(text));
  source->in = source->owned.get();
  source->name = std::move(source_name);
  return CsvReader(std::move(source));
}

int CsvReader::peek() {
  Source& s = *source_;
  if (s.position == s.size && !s.refill()) return -1;
  return static_cast<unsigned char>(s.buffer[s.position]);
}

int CsvReader::get() {
  const int c = peek();
  if (c >= 0) ++source_->position;
  return c;
}

Status CsvReader::error(const std::string& what) const {
  return Status::corruption(source_->name + ": line " + std::to_string(line_) + ": " + what);
}

Status CsvReader::read_failed() const {
  const Status& failure = source_->failure;
  return Status(failure.code(), failure.message() + " (near line " + std::to_string(line_) + ")");
}

Result<bool> CsvReader::next_row(std::vector<std::string>& fields) {
  fields.clear();
  if (!started_) {
    started_ = true;
    if (peek() == 0xEF) {  // a UTF-8 byte order mark: EF BB BF
      const std::string_view bom = "\xEF\xBB\xBF";
      Source& s = *source_;
      if (s.size - s.position >= 3 && std::string_view(&s.buffer[s.position], 3) == bom) {
        s.position += 3;
      }
    }
  }
  // Skip blank lines: no characters, or only spaces and tabs (pandas' skip_blank_lines). Blanks
  // before anything else start the first field.
  std::string blanks;
  for (int c = peek();; c = peek()) {
    if (c == ' ' || c == '\t') {
      blanks.push_back(static_cast<char>(get()));
      if (blanks.size() > kMaxCsvRowBytes) {
        return error("row longer than " + std::to_string(kMaxCsvRowBytes) + " bytes");
      }
      continue;
    }
    if (c != '\n' && c != '\r') break;
    get();
    if (c == '\r' && peek() == '\n') get();
    ++line_;
    blanks.clear();
  }
  if (peek() < 0) {
    if (source_->failed()) return read_failed();
    return false;
  }
  row_line_ = line_;
  enum class State { kFieldStart, kUnquoted, kQuoted, kAfterQuote } state = State::kFieldStart;
  std::string field = std::move(blanks);
  if (!field.empty()) state = State::kUnquoted;
  size_t row_bytes = field.size();
  for (;;) {
    const int c = get();
    if (++row_bytes > kMaxCsvRowBytes) {
      return error("row longer than " + std::to_string(kMaxCsvRowBytes) + " bytes");
    }
    const bool line_end = c == '\n' || c == '\r';
    if (state == State::kQuoted) {
      if (c < 0) {
        if (source_->failed()) return read_failed();
        return error("unterminated quoted field (the row starts on line " +
                     std::to_string(row_line_) + ")");
      }
      if (c == '"') {
        state = State::kAfterQuote;
        continue;
      }
      if (c == '\n' || (c == '\r' && peek() != '\n')) ++line_;
      field.push_back(static_cast<char>(c));
      continue;
    }
    if (c < 0 || line_end || c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      if (c == ',') {
        state = State::kFieldStart;
        continue;
      }
      if (c == '\r' && peek() == '\n') get();
      if (line_end) ++line_;
      if (c < 0 && source_->failed()) return read_failed();
      break;
    }
    if (c == '"' && state == State::kFieldStart) {
      state = State::kQuoted;
      continue;
    }
    if (c == '"' && state == State::kAfterQuote) {  // a doubled quote inside a quoted field
      field.push_back('"');
      state = State::kQuoted;
      continue;
    }
    // As pandas: a quote inside an unquoted field is a character, and text after a closing
    // quote goes on the field unquoted ("ab"c d -> abc d).
    state = State::kUnquoted;
    field.push_back(static_cast<char>(c));
  }
  // A short row (a spreadsheet that leaves trailing empty cells out) gets empty fields, as
  // pandas fills them; a long one has no column to go in.
  if (expected_fields_ && fields.size() < *expected_fields_) fields.resize(*expected_fields_);
  if (expected_fields_ && fields.size() != *expected_fields_) {
    return Status::corruption(source_->name + ": line " + std::to_string(row_line_) + ": " +
                              std::to_string(fields.size()) + " fields, the header has " +
                              std::to_string(*expected_fields_));
  }
  return true;
}

Result<std::vector<std::string>> CsvReader::read_header() {
  std::vector<std::string> header;
  Result<bool> read = next_row(header);
  if (!read) return read.status();
  if (!*read) return Status::corruption(source_->name + ": empty file (no header row)");
  expected_fields_ = header.size();
  return header;
}

}  // namespace vcap::io
