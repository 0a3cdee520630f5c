#include "hub/repo_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>

namespace vcap::hub {
namespace {

constexpr size_t kMaxRepoIdLength = 96;

bool valid_repo_id_part(std::string_view part) {
  if (part.empty()) return false;
  for (char c : part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  const auto edge = [](char c) { return c == '-' || c == '.'; };
  return !edge(part.front()) && !edge(part.back());
}

// A name no other process or thread picks for its temporary file next to `path`.
std::filesystem::path unique_temp_path(const std::filesystem::path& path) {
  std::random_device entropy;
  std::ostringstream name;
  name << path.filename().string() << ".tmp." << ::getpid() << '.' << std::hex << entropy()
       << entropy();
  return path.parent_path() / name.str();
}

}  // namespace

Status validate_repo_id(std::string_view repo_id) {
  const auto invalid = [&](const std::string& why) {
    return Status::invalid_argument("\"" + std::string(repo_id) +
                                    "\" is not a hub model id (ORG/NAME): " + why);
  };
  if (repo_id.empty() || repo_id.size() > kMaxRepoIdLength) {
    return invalid("length must be 1 to 96 characters");
  }
  if (repo_id.find("--") != std::string_view::npos ||
      repo_id.find("..") != std::string_view::npos) {
    return invalid("\"--\" and \"..\" are not allowed");
  }
  const size_t slash = repo_id.find('/');
  if (slash != std::string_view::npos && repo_id.find('/', slash + 1) != std::string_view::npos) {
    return invalid("more than one '/'");
  }
  const bool parts_ok = slash == std::string_view::npos
                            ? valid_repo_id_part(repo_id)
                            : valid_repo_id_part(repo_id.substr(0, slash)) &&
                                  valid_repo_id_part(repo_id.substr(slash + 1));
  if (!parts_ok) {
    return invalid("use letters, digits, '-', '_' and '.', not starting or ending with '-' or '.'");
  }
  return Status();
}

bool is_commit_sha(std::string_view revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

Status validate_repo_file_name(std::string_view file) {
  bool parts_ok = !file.empty() && file.size() < 1024;
  for (size_t start = 0; parts_ok && start <= file.size();) {
    const size_t end = std::min(file.find('/', start), file.size());
    const std::string_view part = file.substr(start, end - start);
    parts_ok = !part.empty() && part != "." && part != ".." && part.find('\0') == part.npos;
    start = end + 1;
  }
  if (!parts_ok) {
    return Status::invalid_argument("\"" + std::string(file) +
                                    "\" is not a file name inside a repository");
  }
  return Status();
}

std::string repo_folder_name(std::string_view repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name.push_back(c);
    }
  }
  return name;
}

RepoCache::RepoCache(std::filesystem::path cache_dir, std::string repo_id)
    : cache_dir_(std::move(cache_dir)), repo_id_(std::move(repo_id)) {}

std::filesystem::path RepoCache::folder() const { return cache_dir_ / repo_folder_name(repo_id_); }

std::filesystem::path RepoCache::blob_path(std::string_view etag) const {
  return folder() / "blobs" / std::string(etag);
}

std::filesystem::path RepoCache::incomplete_path(std::string_view etag) const {
  return folder() / "blobs" / (std::string(etag) + ".incomplete");
}

std::filesystem::path RepoCache::lock_path(std::string_view etag) const {
  return cache_dir_ / ".locks" / repo_folder_name(repo_id_) / (std::string(etag) + ".lock");
}

std::filesystem::path RepoCache::verified_record_path(std::string_view etag) const {
  return folder() / ".vcap" / "verified" / std::string(etag);
}

std::filesystem::path RepoCache::snapshot_dir(std::string_view commit) const {
  return folder() / "snapshots" / std::string(commit);
}

std::filesystem::path RepoCache::pointer_path(std::string_view commit,
                                              std::string_view file) const {
  return snapshot_dir(commit) / std::string(file);
}

std::optional<std::string> RepoCache::commit_of(std::string_view revision) const {
  if (is_commit_sha(revision)) return std::string(revision);
  std::ifstream ref(folder() / "refs" / std::string(revision));
  std::string commit;
  if (!ref || !(ref >> commit) || !is_commit_sha(commit)) return std::nullopt;
  return commit;
}

Status RepoCache::write_ref(std::string_view revision, std::string_view commit) const {
  if (revision == commit) return Status();
  // The Python tools write the bare sha, without a newline.
  return write_small_file_atomically(folder() / "refs" / std::string(revision), commit);
}

Status RepoCache::link(std::string_view commit, std::string_view file,
                       std::string_view etag) const {
  const std::filesystem::path pointer = pointer_path(commit, file);
  std::error_code error;
  std::filesystem::create_directories(pointer.parent_path(), error);
  if (error) {
    return Status::io_error("cannot create " + pointer.parent_path().string() + ": " +
                            error.message());
  }
  // Relative, so the cache can be moved or mounted elsewhere: ../../blobs/<etag> for a
  // top-level file, one more ".." per sub-folder.
  const std::filesystem::path target = blob_path(etag).lexically_relative(pointer.parent_path());
  const std::filesystem::path temp = unique_temp_path(pointer);
  std::filesystem::create_symlink(target, temp, error);
  if (!error) std::filesystem::rename(temp, pointer, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return Status::io_error("cannot link " + pointer.string() + " -> " + target.string() + ": " +
                            error.message());
  }
  return Status();
}

std::optional<std::string> RepoCache::linked_etag(std::string_view commit,
                                                  std::string_view file) const {
  std::error_code error;
  const std::filesystem::path target =
      std::filesystem::read_symlink(pointer_path(commit, file), error);
  if (error || target.parent_path().filename() != "blobs") return std::nullopt;
  return target.filename().string();
}

Status write_small_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  if (error) {
    return Status::io_error("cannot create " + path.parent_path().string() + ": " +
                            error.message());
  }
  const std::filesystem::path temp = unique_temp_path(path);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      std::filesystem::remove(temp, error);  // best effort
      return Status::io_error("cannot write " + temp.string());
    }
  }
  std::filesystem::rename(temp, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return Status::io_error("cannot rename " + temp.string() + " to " + path.string() + ": " +
                            error.message());
  }
  return Status();
}

}  // namespace vcap::hub
