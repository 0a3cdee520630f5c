// gzip (RFC 1952) through zlib, so that CSV files may be read and written compressed, as the
// original pipeline (pandas) allows: an input is recognised by its first bytes, an output by its
// name (".gz"). Other compressions that pandas infers (bzip2, xz, zstd, zip) are recognised only
// to refuse them with a message that says what to do.
#ifndef VCAP_IO_GZIP_H_
#define VCAP_IO_GZIP_H_

#include <filesystem>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vcap::io {

enum class Compression { kNone, kGzip };

// What a file's first bytes say it is (at least 6 bytes give a sure answer).
enum class FileKind { kPlain, kGzip, kBzip2, kXz, kZstd, kZip };
FileKind sniff_file_kind(std::string_view first_bytes);

// kOk for a plain or gzip file; for the compressions vcap does not read, kUnsupported naming
// `path`, the compression, and the command that undoes it.
Status check_readable_kind(FileKind kind, const std::filesystem::path& path);

// The compression of a file written at `path`, from its name as pandas infers it: ".gz" is
// gzip; ".bz2", ".xz", ".zst", ".zip" and ".tar" are kUnsupported (naming the path); anything
// else is plain.
Result<Compression> output_compression(const std::filesystem::path& path);

// Inflates the gzip data read from `in` (which must outlive it): one member after another, as
// gzip -d does. `first_bytes` were already read from the start of the data.
class GzipReader {
 public:
  GzipReader(std::istream& in, std::string first_bytes, std::string name);
  GzipReader(GzipReader&&) noexcept;
  GzipReader& operator=(GzipReader&&) noexcept;
  ~GzipReader();

  // Up to `size` inflated bytes into `out`; 0 at the end of the data. Errors name the source:
  // kCorruption for damaged data or data that ends inside a member (a truncated file),
  // kIoError when reading fails.
  Result<size_t> read(char* out, size_t size);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Deflates into one gzip member; the compressed bytes are appended to a string the caller
// writes out.
class GzipWriter {
 public:
  // kInternal when zlib cannot start (out of memory).
  static Result<GzipWriter> create(std::string name);
  GzipWriter(GzipWriter&&) noexcept;
  GzipWriter& operator=(GzipWriter&&) noexcept;
  ~GzipWriter();

  // Compresses `data`, appending what zlib has ready to `out`.
  Status write(std::string_view data, std::string& out);
  // Ends the member (everything written so far, then gzip's trailer) into `out`. Later writes
  // start nothing new: the writer is done.
  Status finish(std::string& out);

 private:
  struct State;
  explicit GzipWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vcap::io

#endif  // VCAP_IO_GZIP_H_
