// FileLock: an exclusive advisory lock (flock) on a lock file, held while the object lives.
//
// Processes (and threads, each with its own FileLock) that lock the same path take turns.
// This is how several ranks on one machine share one cache without two of them writing the
// same blob: the Python tools lock `<cache>/.locks/models--ORG--NAME/<etag>.lock` the same way.
// The lock file itself is left in place (removing it would race with a waiting locker).
// Move-only.
#ifndef VCAP_HUB_FILE_LOCK_H_
#define VCAP_HUB_FILE_LOCK_H_

#include <filesystem>

#include "base/status.h"

namespace vcap::hub {

class FileLock {
 public:
  // Creates the file (and its directory) if needed and blocks until the lock is held.
  // kIoError naming the path when the file cannot be created (read-only cache).
  static Result<FileLock> acquire(const std::filesystem::path& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();  // releases the lock

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vcap::hub

#endif  // VCAP_HUB_FILE_LOCK_H_
