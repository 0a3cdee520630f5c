#include "hub/file_chunks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace vcap::hub {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;

// Closes the descriptor on every path out of read_file_chunks.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { ::close(fd_); }

 private:
  int fd_;
};

}  // namespace

Status read_file_chunks(const std::filesystem::path& path,
                        const std::function<void(std::span<const std::byte>)>& consume) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return Status::not_found(path.string() + ": no such file");
    return Status::from_errno(path.string() + ": cannot open", error);
  }
  FdCloser closer(fd);
  std::vector<std::byte> chunk(kChunkBytes);
  while (true) {
    const ssize_t got = ::read(fd, chunk.data(), chunk.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno(path.string() + ": read failed", errno);
    }
    if (got == 0) return Status();
    consume(std::span<const std::byte>(chunk.data(), static_cast<size_t>(got)));
  }
}

}  // namespace vcap::hub
