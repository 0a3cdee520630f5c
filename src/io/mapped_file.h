// MappedFile: a whole file mapped read-only into memory (mmap).
//
// The mapping lives exactly as long as the MappedFile object; moving it moves the ownership
// without moving the bytes, so spans taken from bytes() stay valid until the owning object
// (whichever it has been moved to) is destroyed. An empty file maps to an empty span.
// Thread safety: bytes() may be read from any number of threads at once.
#ifndef VCAP_IO_MAPPED_FILE_H_
#define VCAP_IO_MAPPED_FILE_H_

#include <cstddef>
#include <filesystem>
#include <span>

#include "base/status.h"

namespace vcap::io {

class MappedFile {
 public:
  // Maps `path` read-only. kNotFound when it does not exist, kIoError for other OS errors
  // (a directory, no permission); the message names the path.
  static Result<MappedFile> open(const std::filesystem::path& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // The file's bytes; valid while this object (or the one it was moved into) lives.
  std::span<const std::byte> bytes() const { return {data_, size_bytes_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile(std::filesystem::path path, const std::byte* data, size_t size_bytes)
      : path_(std::move(path)), data_(data), size_bytes_(size_bytes) {}
  void unmap();

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;  // nullptr for an empty file
  size_t size_bytes_ = 0;
};

// Tells the kernel that the pages wholly inside `bytes` (a span of a MappedFile) are not needed
// now: they leave this process's resident memory, and a later read faults them in again from
// the file, so the bytes stay valid. Loading a checkpoint calls it after converting each tensor,
// so resident memory holds one copy of the weights (the converted one), not two.
void release_mapped_pages(std::span<const std::byte> bytes);

}  // namespace vcap::io

#endif  // VCAP_IO_MAPPED_FILE_H_
