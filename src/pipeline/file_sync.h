// LockFile: an exclusive lock file for crash-safe coordination between ranks.
#ifndef VCAP_PIPELINE_FILE_SYNC_H_
#define VCAP_PIPELINE_FILE_SYNC_H_

#include <filesystem>
#include <string>

#include "base/status.h"

namespace vcap::pipeline {

// A lock file made with O_CREAT|O_EXCL (atomic on local and network filesystems) holding
// "<host> <pid>". Removed on destruction. Used so that only one process merges at a time.
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

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_FILE_SYNC_H_
