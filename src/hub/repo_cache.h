// RepoCache: one repository's folder in the Hugging Face cache, in the layout the Python tools
// (huggingface_hub) read and write:
//
//   <cache_dir>/models--ORG--NAME/
//     blobs/<etag>                  file contents, named by the hub's ETag: the sha256 of an
//                                   LFS file, the git blob id (sha1) of a small git file
//     blobs/<etag>.incomplete       a download in progress (resumed by the next attempt)
//     refs/<revision>               the commit sha a branch or tag named when last resolved
//     snapshots/<commit>/<file>     symlink -> ../../blobs/<etag>
//     .vcap/verified/<etag>         vcap only: "<size> <mtime_ns>" of a blob already hashed
//   <cache_dir>/.locks/models--ORG--NAME/<etag>.lock   flock taken while writing a blob
//
// Writes are atomic (temporary name + rename), so concurrent readers and writers in several
// processes never see half a ref or a dangling half-made link. Methods are const and keep
// no state beyond the two paths: safe to use from several threads.
#ifndef VCAP_HUB_REPO_CACHE_H_
#define VCAP_HUB_REPO_CACHE_H_

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vcap::hub {

// kInvalidArgument unless `repo_id` is a hub model id: "ORG/NAME" (or a legacy "NAME"), each
// part of letters, digits, '-', '_', '.', not starting or ending with '-' or '.', no "--" or
// "..", at most 96 characters.
Status validate_repo_id(std::string_view repo_id);

// True for a full 40-hex-digit commit sha.
bool is_commit_sha(std::string_view revision);

// kInvalidArgument unless `file` is a relative path inside a repository (no "..", no leading
// '/', no empty parts): names from the hub become cache paths only after this check.
Status validate_repo_file_name(std::string_view file);

class RepoCache {
 public:
  // REQUIRES: validate_repo_id(repo_id).ok().
  RepoCache(std::filesystem::path cache_dir, std::string repo_id);

  const std::string& repo_id() const { return repo_id_; }
  const std::filesystem::path& cache_dir() const { return cache_dir_; }
  // <cache_dir>/models--ORG--NAME
  std::filesystem::path folder() const;
  std::filesystem::path blob_path(std::string_view etag) const;
  std::filesystem::path incomplete_path(std::string_view etag) const;
  std::filesystem::path lock_path(std::string_view etag) const;
  std::filesystem::path verified_record_path(std::string_view etag) const;
  std::filesystem::path snapshot_dir(std::string_view commit) const;
  std::filesystem::path pointer_path(std::string_view commit, std::string_view file) const;

  // The commit `revision` resolves to in the cache: the revision itself when it is a commit
  // sha, else the content of refs/<revision>; nullopt when unknown.
  std::optional<std::string> commit_of(std::string_view revision) const;

  // Records that `revision` names `commit` (nothing to do when revision is that sha).
  Status write_ref(std::string_view revision, std::string_view commit) const;

  // Makes snapshots/<commit>/<file> a relative symlink to blobs/<etag>, replacing any
  // previous entry atomically.
  Status link(std::string_view commit, std::string_view file, std::string_view etag) const;

  // The etag of the blob a snapshot entry links to (the link target's file name); nullopt
  // when the entry is missing or is not a symlink into blobs/.
  std::optional<std::string> linked_etag(std::string_view commit, std::string_view file) const;

 private:
  std::filesystem::path cache_dir_;
  std::string repo_id_;
};

// The folder name the hub tools use for a model repo: "models--ORG--NAME".
std::string repo_folder_name(std::string_view repo_id);

// Writes `contents` to `path` through a uniquely named temporary file and a rename, creating
// the directory if needed. Safe when several processes or threads write the same path.
Status write_small_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace vcap::hub

#endif  // VCAP_HUB_REPO_CACHE_H_
