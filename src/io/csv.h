// RFC 4180 CSV: a streaming reader and a writer, of plain or gzip-compressed files (gzip.h).
//
// Reader: fields separated by commas, rows by LF, CRLF or a lone CR; a field may be quoted
// with '"', a quoted field may hold commas, line breaks and doubled quotes (""). What pandas'
// reader (the original script's) accepts reads the same: a UTF-8 BOM at the start is dropped,
// the last row may end without a line break, lines with no characters or only spaces and tabs
// are skipped, a quote inside an unquoted field is a character, text after a closing quote
// continues the field, and once an expected field count is set (read_header() sets it) a
// shorter row gets empty fields. Errors (kCorruption, naming the source and the line): an
// unterminated quoted field, a row longer than kMaxCsvRowBytes, and a row with more fields
// than expected. Memory: one row. A file is read
// gzip-compressed when its first bytes say so (damaged or truncated gzip data is an error,
// never a shorter table); bzip2, xz, zstd and zip files are refused (kUnsupported) with the
// command that decompresses them.
//
// Writer: quotes a field only when needed (comma, quote, CR, LF, leading or trailing space or
// tab, a leading UTF-8 BOM, or a lone empty field, which would otherwise read back as a blank
// line), doubles quotes, ends rows with "\n". Neither class is thread-safe; both are
// move-only.
#ifndef VCAP_IO_CSV_H_
#define VCAP_IO_CSV_H_

#include <cstdint>
#include <filesystem>
#include <istream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/gzip.h"

namespace vcap::io {

// A row larger than this is refused rather than read into memory.
inline constexpr size_t kMaxCsvRowBytes = 64u << 20;

class CsvReader {
 public:
  // Opens a file. kNotFound / kIoError naming the path.
  static Result<CsvReader> open(const std::filesystem::path& path);
  // Reads from `in`, which must outlive the reader. `source` names it in errors.
  static CsvReader from_stream(std::istream& in, std::string source = "<stream>");
  // Reads from a copy of `text` (tests, fuzzing).
  static CsvReader from_string(std::string text, std::string source = "<string>");

  CsvReader(CsvReader&&) noexcept;
  CsvReader& operator=(CsvReader&&) noexcept;
  ~CsvReader();

  // Reads the next row into `fields` (cleared first). false at a clean end of input.
  Result<bool> next_row(std::vector<std::string>& fields);

  // Reads the first row as the header and requires every later row to have as many fields.
  // kCorruption when the input is empty.
  Result<std::vector<std::string>> read_header();

  // Every later row must have `count` fields (nullopt: any count).
  void set_expected_fields(std::optional<size_t> count) { expected_fields_ = count; }

  // 1-based line on which the row last returned by next_row() starts.
  int64_t line_number() const { return row_line_; }

 private:
  struct Source;
  explicit CsvReader(std::unique_ptr<Source> source);
  int get();  // next byte, or -1 at end of input
  int peek();
  Status error(const std::string& what) const;
  Status read_failed() const;

  std::unique_ptr<Source> source_;
  std::optional<size_t> expected_fields_;
  int64_t line_ = 1;      // line of the next byte
  int64_t row_line_ = 0;  // line of the last row's first byte
  bool started_ = false;  // BOM check done
};

// One row as CSV text, with the final "\n".
std::string format_csv_row(std::span<const std::string> fields);

class CsvWriter {
 public:
  enum class Mode { kTruncate, kAppend };
  // Opens (creates) a file for writing, its bytes gzip-compressed with kGzip (appending adds a
  // gzip member, which readers take as the continuation). kIoError naming the path.
  static Result<CsvWriter> open(const std::filesystem::path& path, Mode mode = Mode::kTruncate,
                                Compression compression = Compression::kNone);
  // Writes to `out`, which must outlive the writer.
  static CsvWriter to_stream(std::ostream& out, std::string name = "<stream>");

  CsvWriter(CsvWriter&&) noexcept;
  CsvWriter& operator=(CsvWriter&&) noexcept;
  ~CsvWriter();  // closes; errors are lost: call close() to see them

  Status write_row(std::span<const std::string> fields);
  // Hands buffered rows to the OS (or the stream) and reports its error. Compressed, rows may
  // stay in the compressor until close().
  Status flush();
  // flush(), fsync (files) and close. Further writes are refused.
  Status close();

 private:
  struct Sink;
  explicit CsvWriter(std::unique_ptr<Sink> sink);
  std::unique_ptr<Sink> sink_;
};

}  // namespace vcap::io

#endif  // VCAP_IO_CSV_H_
