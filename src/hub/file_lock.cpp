#include "hub/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace vcap::hub {

Result<FileLock> FileLock::acquire(const std::filesystem::path& path) {
  std::error_code ignored;  // a failure shows up in open() below, with a better message
  std::filesystem::create_directories(path.parent_path(), ignored);
  // 0666 less the umask, as the Python tools make theirs: a cache shared by a group (umask 002)
  // lets every member lock what another one locked before.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Status::from_errno("cannot create lock file " + path.string(), errno);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int error = errno;
    ::close(fd);
    return Status::from_errno("cannot lock " + path.string(), error);
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace vcap::hub
