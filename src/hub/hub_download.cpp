// HubApi::download: one file's bytes into its partial file, resumable.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hub/hub_api.h"

namespace vcap::hub {
namespace {

// The partial file, open for writing at its end; closed on every path out.
class PartialFile {
 public:
  static Result<PartialFile> open(const std::filesystem::path& path) {
    // 0666 less the umask (see FileLock::acquire): in a shared cache another member resumes it.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return Status::from_errno("cannot open " + path.string(), errno);
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) {
      ::close(fd);
      return Status::from_errno("cannot seek " + path.string(), errno);
    }
    return PartialFile(path, fd, static_cast<uint64_t>(end));
  }
  PartialFile(PartialFile&& other) noexcept
      : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  PartialFile& operator=(PartialFile&&) = delete;
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t size() const { return size_; }

  Status truncate() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) {
      return Status::from_errno("cannot truncate " + path_.string(), errno);
    }
    size_ = 0;
    return Status();
  }

  Status append(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const ssize_t wrote = ::write(fd_, bytes.data(), bytes.size());
      if (wrote < 0) {
        if (errno == EINTR) continue;
        return write_error(errno);
      }
      bytes = bytes.subspan(static_cast<size_t>(wrote));
      size_ += static_cast<uint64_t>(wrote);
    }
    return Status();
  }

  // Data on disk before the rename that publishes it.
  Status sync() {
    if (::fsync(fd_) != 0) return write_error(errno);
    return Status();
  }

 private:
  PartialFile(std::filesystem::path path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  Status write_error(int error) const {
    if (error == ENOSPC || error == EDQUOT) {
      return Status::io_error("disk full while writing " + path_.string() +
                              ": free some space and rerun; the download resumes where it "
                              "stopped");
    }
    return Status::from_errno("cannot write " + path_.string(), error);
  }

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::string gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

// Fails early, before hours of transfer, when the rest of the file cannot fit.
Status check_free_space(const std::filesystem::path& partial, uint64_t needed_bytes) {
  std::error_code error;
  const std::filesystem::space_info space = std::filesystem::space(partial.parent_path(), error);
  if (error || space.available >= needed_bytes) return Status();
  return Status::io_error("not enough disk space in " + partial.parent_path().string() + " for " +
                          partial.filename().string() + ": needs " + gib(needed_bytes) + ", " +
                          gib(space.available) + " free");
}

}  // namespace

Status HubApi::download(const FileMetadata& metadata, std::string_view repo_id,
                        std::string_view file, const std::filesystem::path& partial) {
  FileMetadata current = metadata;
  bool refreshed = false;
  return run_with_retries(*options_, [&](bool& transient) {
    bool link_refused = false;
    Status status = download_attempt(current, repo_id, file, partial, transient, link_refused);
    if (!link_refused) return status;
    // The link the HEAD gave has expired (a long transfer, a long wait for another process's
    // lock): ask for a fresh one, once, and go on from the bytes already here.
    if (refreshed) return status;
    refreshed = true;
    Result<FileMetadata> fresh = file_metadata(repo_id, current.commit, file);
    if (!fresh.ok()) return fresh.status();
    if (fresh->etag != current.etag) {
      return Status::invalid_argument("downloading " + std::string(file) + " of " +
                                      std::string(repo_id) +
                                      ": the file changed on the hub "
                                      "during the download; rerun");
    }
    current = std::move(*fresh);
    transient = true;
    return status;
  });
}

Status HubApi::download_attempt(const FileMetadata& metadata, std::string_view repo_id,
                                std::string_view file, const std::filesystem::path& partial,
                                bool& transient, bool& link_refused) {
  Result<PartialFile> opened = PartialFile::open(partial);
  if (!opened.ok()) return opened.status();
  PartialFile& out = *opened;
  const std::optional<uint64_t> expected = metadata.size_bytes;
  if (expected && out.size() > *expected) {
    if (Status reset = out.truncate(); !reset.ok()) return reset;
  }
  if (expected && out.size() == *expected) return Status();  // an earlier run got every byte
  if (expected) {
    if (Status space = check_free_space(partial, *expected - out.size()); !space.ok()) {
      return space;
    }
  }
  const uint64_t resume_from = out.size();
  std::vector<std::string> headers = headers_for(metadata.download_url);
  if (resume_from > 0) headers.push_back("Range: bytes=" + std::to_string(resume_from) + "-");

  DownloadProgress progress{DownloadProgress::Phase::kStart, file, resume_from,
                            expected.value_or(0)};
  if (options_->progress) options_->progress(progress);
  progress.phase = DownloadProgress::Phase::kProgress;
  Status write_status;
  bool first_piece = true;
  const BodySink sink = [&](long status, std::span<const std::byte> bytes) {
    if (first_piece && status == 200 && out.size() > 0) {
      // The server ignored the Range header and sends the whole file: start over.
      write_status = out.truncate();
    }
    first_piece = false;
    if (write_status.ok()) write_status = out.append(bytes);
    if (!write_status.ok()) return false;
    progress.done_bytes = out.size();
    if (options_->progress) options_->progress(progress);
    return true;
  };
  Result<HttpResponse> response = http_.get_to(metadata.download_url, headers, sink);
  if (!write_status.ok()) return write_status;  // the disk, not the network: no retry
  if (!response.ok()) {
    transient = true;  // a cut connection or a stall: the retry resumes from what arrived
    return response.status().with_context("downloading " + std::string(file) + " of " +
                                          std::string(repo_id));
  }
  if (response->status == 416) {
    // The partial file does not fit the remote one: drop it and start again.
    transient = true;
    if (Status reset = out.truncate(); !reset.ok()) return reset;
    return Status::io_error("downloading " + std::string(file) +
                            ": the server refused to resume (HTTP 416)");
  }
  if (response->status < 200 || response->status >= 300) {
    transient = is_transient_http_status(response->status);
    const bool cdn = url_origin(metadata.download_url) != url_origin(options_->endpoint);
    if (cdn && response->status >= 400 && response->status < 500) {
      // Not the hub's answer about the repository: no advice about HF_TOKEN.
      link_refused = true;
      return Status::io_error("downloading " + std::string(file) + " of " + std::string(repo_id) +
                              ": " + url_origin(metadata.download_url) +
                              " refused the download link (HTTP " +
                              std::to_string(response->status) + ")");
    }
    return hub_http_error(*response, *options_, repo_id, metadata.commit, file);
  }
  if (expected && out.size() != *expected) {
    transient = true;
    return Status::io_error("downloading " + std::string(file) + ": got " +
                            std::to_string(out.size()) + " of " + std::to_string(*expected) +
                            " bytes");
  }
  return out.sync();
}

}  // namespace vcap::hub
