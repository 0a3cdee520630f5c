// AtomicFile: write a file so that readers see either the old file or the complete new one.
//
// The bytes go to `<path>.tmp.<pid>` in the same directory; commit() flushes, fsyncs, closes,
// renames it over `path` and fsyncs the directory, so a crash at any point leaves `path`
// either untouched or complete. An AtomicFile destroyed without a successful commit() removes
// its temporary file. Writes are buffered. Move-only; not thread-safe.
#ifndef VCAP_IO_ATOMIC_FILE_H_
#define VCAP_IO_ATOMIC_FILE_H_

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vcap::io {

class AtomicFile {
 public:
  // Creates (truncates) the temporary file. kIoError naming the path when the OS refuses
  // (missing directory, no permission).
  static Result<AtomicFile> create(const std::filesystem::path& path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Appends bytes. Errors from the OS (disk full) come back here or from commit().
  Status write(std::span<const std::byte> bytes);
  Status write(std::string_view text);

  // Makes the file visible at path(). REQUIRES: not committed yet. After a failure the
  // temporary file is removed and `path` is untouched.
  Status commit();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return temp_path_; }
  // Bytes written so far.
  uint64_t size_bytes() const { return size_bytes_; }

 private:
  AtomicFile(std::filesystem::path path, std::filesystem::path temp_path, int fd);
  Status flush_buffer();
  void discard();

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;  // -1 once committed or discarded
  std::string buffer_;
  uint64_t size_bytes_ = 0;
};

// One-shot helpers over AtomicFile.
Status write_file_atomically(const std::filesystem::path& path, std::string_view contents);
Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);

// fsyncs a directory so that a rename inside it survives a crash.
Status sync_directory(const std::filesystem::path& dir);

// Writes all of `bytes` to the descriptor, retrying partial writes and EINTR.
// `what` names the file in the error.
Status write_all(int fd, std::span<const std::byte> bytes, const std::string& what);

}  // namespace vcap::io

#endif  // VCAP_IO_ATOMIC_FILE_H_
