#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace vcap::io {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

}  // namespace

Status write_all(int fd, std::span<const std::byte> bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("write " + what, errno);
    }
    bytes = bytes.subspan(static_cast<size_t>(written));
  }
  return Status();
}

Status sync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path target = dir.empty() ? std::filesystem::path(".") : dir;
  const int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("open directory " + target.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems do not support fsync on directories; that is not a write failure.
  if (rc != 0 && err != EINVAL && err != EROFS) {
    return Status::from_errno("fsync directory " + target.string(), err);
  }
  return Status();
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& path) {
  std::filesystem::path temp_path = path;
  temp_path += ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return Status::from_errno("create " + temp_path.string(), errno);
  return AtomicFile(path, std::move(temp_path), fd);
}

AtomicFile::AtomicFile(std::filesystem::path path, std::filesystem::path temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {
  buffer_.reserve(kBufferBytes);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      size_bytes_(other.size_bytes_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::move(other.path_);
    temp_path_ = std::move(other.temp_path_);
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

Status AtomicFile::flush_buffer() {
  Status s = write_all(fd_, std::as_bytes(std::span(buffer_)), temp_path_.string());
  buffer_.clear();
  return s;
}

Status AtomicFile::write(std::span<const std::byte> bytes) {
  VCAP_CHECK(fd_ >= 0, "AtomicFile::write after commit");
  size_bytes_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Status();
  }
  if (Status s = flush_buffer(); !s.ok()) return s;
  if (bytes.size() >= kBufferBytes) return write_all(fd_, bytes, temp_path_.string());
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return Status();
}

Status AtomicFile::write(std::string_view text) { return write(std::as_bytes(std::span(text))); }

Status AtomicFile::commit() {
  VCAP_CHECK(fd_ >= 0, "AtomicFile::commit called twice");
  Status s = flush_buffer();
  if (s.ok() && ::fsync(fd_) != 0) s = Status::from_errno("fsync " + temp_path_.string(), errno);
  if (!s.ok()) {
    discard();
    return s;
  }
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return Status::from_errno("close " + temp_path_.string(), err);
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return Status::from_errno("rename " + temp_path_.string() + " to " + path_.string(), err);
  }
  return sync_directory(path_.parent_path());
}

Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  Result<AtomicFile> file = AtomicFile::create(path);
  if (!file) return file.status();
  if (Status s = file->write(bytes); !s.ok()) return s;
  return file->commit();
}

Status write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  return write_file_atomically(path, std::as_bytes(std::span(contents)));
}

}  // namespace vcap::io
