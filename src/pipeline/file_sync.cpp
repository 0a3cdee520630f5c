#include "pipeline/file_sync.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <utility>

#include "pipeline/cgroup_files.h"

namespace vcap::pipeline {
namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// True when `fd` is still the file at `path` (not one removed by its last holder meanwhile).
bool still_linked(int fd, const std::filesystem::path& path) {
  struct stat opened {};
  struct stat named {};
  return ::fstat(fd, &opened) == 0 && ::stat(path.c_str(), &named) == 0 &&
         opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

}  // namespace

std::filesystem::path rank_lock_path(const std::filesystem::path& journal) {
  std::filesystem::path path = journal;
  path.replace_extension(".lock");
  return path;
}

std::string lock_holder(const std::filesystem::path& lock) {
  return trimmed(read_small_file(lock));
}

bool holder_is_gone(const std::string& content) {
  std::istringstream in(content);
  std::string host;
  long pid = 0;
  if (!(in >> host >> pid) || pid <= 0) return false;
  if (host != host_name()) return false;  // cannot tell for another machine
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

Result<LockFile> LockFile::try_acquire(const std::filesystem::path& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string content = host_name() + " " + std::to_string(::getpid()) + "\n";
      const bool written =
          ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
      ::close(fd);
      if (!written) {
        std::filesystem::remove(path);
        return Status::io_error("cannot write lock file " + path.string());
      }
      return LockFile(path, true, "");
    }
    if (errno != EEXIST)
      return Status::from_errno("cannot create lock file " + path.string(), errno);
    const std::string holder = lock_holder(path);
    if (attempt == 0 && holder_is_gone(holder)) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
      continue;
    }
    return LockFile(path, false, holder);
  }
  return LockFile(path, false, "");
}

LockFile::~LockFile() {
  if (!held_) return;
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

Result<ProcessLock> ProcessLock::try_acquire(const std::filesystem::path& path, FlockCall flock) {
  // A holder removes the file as it lets go: whoever locked that removed file tries again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    const bool created = fd >= 0;
    if (!created && errno == EEXIST) {
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) continue;  // its holder let go meanwhile
    }
    if (fd < 0) return Status::from_errno("cannot create lock file " + path.string(), errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error == EWOULDBLOCK) return ProcessLock(path, -1, false, lock_holder(path));
      if (error == ENOLCK || error == ENOSYS || error == EOPNOTSUPP) {
        // Only a file this call made goes: one that was there may be the LockFile that stands
        // in for this lock (lock_merge), held by another process.
        std::error_code ignored;
        if (created) std::filesystem::remove(path, ignored);
        return ProcessLock(path, -1, true, "");
      }
      return Status::from_errno("cannot lock " + path.string(), error);
    }
    if (!still_linked(fd, path)) {
      ::close(fd);
      continue;
    }
    const std::string content = host_name() + " " + std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size())) {
      const int error = errno;
      ::close(fd);
      return Status::from_errno("cannot write lock file " + path.string(), error);
    }
    return ProcessLock(path, fd, true, "");
  }
  return Status::io_error("cannot lock " + path.string() + ": it keeps being replaced");
}

ProcessLock::ProcessLock(ProcessLock&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      held_(std::exchange(other.held_, false)),
      holder_(std::move(other.holder_)) {}

ProcessLock::~ProcessLock() {
  if (fd_ < 0) return;
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);  // while still locked: see try_acquire
  ::close(fd_);
}

Result<MergeLock> lock_merge(const std::filesystem::path& output, ProcessLock::FlockCall flock) {
  std::filesystem::path path = output;
  path += ".merge.lock";
  MergeLock merge;
  Result<ProcessLock> lock = ProcessLock::try_acquire(path, flock);
  if (!lock) return lock.status();
  if (!lock->held()) {
    merge.holder = lock->holder();
    return merge;
  }
  if (!lock->enforced()) {
    Result<LockFile> file = LockFile::try_acquire(path);
    if (!file) return file.status();
    if (!file->held()) {
      merge.holder = file->holder();
      return merge;
    }
    merge.exclusive.emplace(std::move(*file));
  }
  merge.lock.emplace(std::move(*lock));
  merge.held = true;
  return merge;
}

}  // namespace vcap::pipeline
