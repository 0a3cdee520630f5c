#include "pipeline/file_sync.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace vcap::pipeline {
namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// True when `content` ("<host> <pid>") names a process of this host that no longer exists.
bool is_stale(const std::string& content) {
  std::istringstream in(content);
  std::string host;
  long pid = 0;
  if (!(in >> host >> pid) || pid <= 0) return false;
  if (host != host_name()) return false;  // cannot tell for another machine
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

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
    const std::string holder = read_small_file(path);
    if (attempt == 0 && is_stale(holder)) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
      continue;
    }
    std::string trimmed = holder;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' '))
      trimmed.pop_back();
    return LockFile(path, false, trimmed);
  }
  return LockFile(path, false, "");
}

LockFile::~LockFile() {
  if (!held_) return;
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

}  // namespace vcap::pipeline
