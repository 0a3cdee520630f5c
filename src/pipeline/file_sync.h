// ProcessLock and LockFile: exclusive locks for crash-safe coordination between processes.
#ifndef VCAP_PIPELINE_FILE_SYNC_H_
#define VCAP_PIPELINE_FILE_SYNC_H_

#include <sys/file.h>

#include <filesystem>
#include <optional>
#include <string>

#include "base/status.h"

namespace vcap::pipeline {

// A lock file made with O_CREAT|O_EXCL (atomic on local and network filesystems) holding
// "<host> <pid>". Removed on destruction. The merge's lock where the filesystem has no flock:
// one left by a holder that died on another machine stays until removed by hand.
class LockFile {
 public:
  // Takes the lock, or returns a LockFile with held() == false when another live process holds
  // it. A lock left by a dead process of this host is taken over. kIoError when the folder
  // refuses.
  static Result<LockFile> try_acquire(const std::filesystem::path& path);

  LockFile(LockFile&& other) noexcept
      : path_(std::move(other.path_)), held_(other.held_), holder_(std::move(other.holder_)) {
    other.held_ = false;
  }
  LockFile& operator=(LockFile&& other) = delete;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

  bool held() const { return held_; }
  // When not held: the lock file's content ("<host> <pid>"), for messages.
  const std::string& holder() const { return holder_; }

 private:
  LockFile(std::filesystem::path path, bool held, std::string holder)
      : path_(std::move(path)), held_(held), holder_(std::move(holder)) {}

  std::filesystem::path path_;
  bool held_ = false;
  std::string holder_;
};

// An advisory lock (flock) on a file, held by the process doing a task that one process at a time
// may do: captioning one rank (a second process for the same rank, the command launched twice or
// a worker left running by a killed parent, would append the same rows to the same journal), or
// merging the journals. The kernel drops the lock when its holder dies, even by kill -9, so a
// restart never meets a stale one on a local filesystem; a network filesystem drops it when the
// holder's machine is known to be gone. The file holds "<host> <pid>" for messages and is
// removed on destruction.
class ProcessLock {
 public:
  // ::flock, or a stand-in for tests of a filesystem without locks.
  using FlockCall = int (*)(int fd, int operation);

  // Takes the lock, or returns a ProcessLock with held() == false and the holder named when
  // another process has it. Where the filesystem has no locks (flock says ENOLCK, ENOSYS or
  // EOPNOTSUPP), returns one with held() and !enforced(), leaving alone a file that was there.
  // kIoError when the file cannot be made.
  static Result<ProcessLock> try_acquire(const std::filesystem::path& path,
                                         FlockCall flock = ::flock);

  ProcessLock(ProcessLock&& other) noexcept;
  ProcessLock& operator=(ProcessLock&&) = delete;
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;
  ~ProcessLock();

  bool held() const { return held_; }
  bool enforced() const { return fd_ >= 0; }
  const std::string& holder() const { return holder_; }  // when not held: "<host> <pid>"

 private:
  ProcessLock(std::filesystem::path path, int fd, bool held, std::string holder)
      : path_(std::move(path)), fd_(fd), held_(held), holder_(std::move(holder)) {}

  std::filesystem::path path_;
  int fd_ = -1;
  bool held_ = false;
  std::string holder_;
};

// The lock file of the rank whose journal is `journal` ("<output>.rank<R>-of-<W>.lock").
std::filesystem::path rank_lock_path(const std::filesystem::path& journal);

// A lock file's "<host> <pid>", for messages; empty when there is none.
std::string lock_holder(const std::filesystem::path& lock);

// True when `content` (a lock file's "<host> <pid>") names a process of this host that no longer
// exists; false when it is alive, of another host (which cannot be told from here), or unreadable.
bool holder_is_gone(const std::string& content);

// The lock on merging the journals into `output` ("<output>.merge.lock"): a ProcessLock, so that
// a merger's death frees it on any machine and a rerun merges; where the filesystem has no
// flock, a LockFile. Either way, held or the holder named.
struct MergeLock {
  bool held = false;
  std::string holder;  // when not held: "<host> <pid>"
  std::optional<ProcessLock> lock;
  std::optional<LockFile> exclusive;  // where flock is not enforced
};

// kIoError when the lock file cannot be made. `flock`: as for ProcessLock::try_acquire.
Result<MergeLock> lock_merge(const std::filesystem::path& output,
                             ProcessLock::FlockCall flock = ::flock);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_FILE_SYNC_H_
