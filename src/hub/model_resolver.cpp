#include "hub/model_resolver.h"

#include <optional>
#include <set>
#include <string>

#include "hub/blob_check.h"
#include "hub/file_lock.h"
#include "hub/hub_api.h"
#include "hub/model_files.h"
#include "hub/repo_cache.h"
#include "io/json_file.h"

namespace vcap::hub {
namespace {

// Checks one cached blob. For an LFS blob that may need hashing, the blob's lock makes the
// ranks of one machine take turns, so the first one hashes and the others read its record.
Status check_cached_blob(const RepoCache& cache, const std::string& etag,
                         std::optional<uint64_t> size_bytes) {
  std::optional<FileLock> lock;
  if (etag_kind(etag) == EtagKind::kSha256) {
    Result<FileLock> acquired = FileLock::acquire(cache.lock_path(etag));
    if (acquired.ok()) lock.emplace(std::move(acquired).value());  // read-only cache: no lock
  }
  return check_blob(cache.blob_path(etag), etag,
                    BlobCheckOptions{size_bytes, cache.verified_record_path(etag)});
}

// ok when snapshots/<commit>/<file> is there and its blob is intact.
Status check_snapshot_file(const RepoCache& cache, const std::string& commit,
                           const std::string& file) {
  const std::optional<std::string> etag = cache.linked_etag(commit, file);
  if (!etag) {
    // A plain file (a copied snapshot) has no name to check it against: trust it.
    std::error_code error;
    if (std::filesystem::is_regular_file(cache.pointer_path(commit, file), error)) return Status();
    return Status::not_found(cache.pointer_path(commit, file).string() + " is missing");
  }
  return check_cached_blob(cache, *etag, std::nullopt).with_context(file);
}

// The cached snapshot of `revision` when it is complete and intact, else why not.
Result<std::filesystem::path> cached_snapshot(const RepoCache& cache, const std::string& revision) {
  const std::optional<std::string> commit = cache.commit_of(revision);
  if (!commit) return Status::not_found("no snapshot of revision \"" + revision + "\"");
  const std::filesystem::path dir = cache.snapshot_dir(*commit);
  Result<std::vector<std::string>> files =
      model_files_in_snapshot(dir, [&](const std::string& file) {
        std::error_code error;
        return std::filesystem::exists(std::filesystem::symlink_status(dir / file, error));
      });
  if (!files.ok()) return files.status();
  for (const std::string& file : *files) {
    if (Status intact = check_snapshot_file(cache, *commit, file); !intact.ok()) return intact;
  }
  return dir;
}

void report(const HubOptions& options, DownloadProgress::Phase phase, const std::string& file,
            std::optional<uint64_t> size_bytes) {
  if (!options.progress) return;
  const uint64_t size = size_bytes.value_or(0);
  options.progress(DownloadProgress{phase, file, size, size});
}

// Downloads `partial`, checks it and publishes it as the blob. REQUIRES: the blob's lock.
Status download_blob(HubApi& api, const RepoCache& cache, const HubOptions& options,
                     const FileMetadata& metadata, const std::string& file) {
  const std::filesystem::path blob = cache.blob_path(metadata.etag);
  const std::filesystem::path partial = cache.incomplete_path(metadata.etag);
  std::error_code error;
  std::filesystem::create_directories(blob.parent_path(), error);
  if (error) return Status::io_error("cannot create " + blob.parent_path().string());
  if (Status got = api.download(metadata, cache.repo_id(), file, partial); !got.ok()) return got;
  report(options, DownloadProgress::Phase::kVerify, file, metadata.size_bytes);
  // The record written for the partial file stays valid: rename keeps size and mtime.
  Status intact =
      check_blob(partial, metadata.etag,
                 BlobCheckOptions{metadata.size_bytes, cache.verified_record_path(metadata.etag)});
  if (!intact.ok()) {
    std::filesystem::remove(partial, error);
    return Status::corruption("downloaded " + file + " of " + cache.repo_id() +
                              " does not match the hub's checksum (" + intact.message() +
                              "); it was discarded: rerun to download it again");
  }
  std::filesystem::rename(partial, blob, error);
  if (error) {
    return Status::io_error("cannot rename " + partial.string() + " to " + blob.string() + ": " +
                            error.message());
  }
  return Status();
}

// Makes snapshots/<commit>/<file> present and intact, fetching what is missing or damaged.
Status fetch_file(HubApi& api, const RepoCache& cache, const HubOptions& options,
                  const std::string& commit, const std::string& file) {
  if (check_snapshot_file(cache, commit, file).ok()) return Status();  // no network needed
  Result<FileMetadata> metadata = api.file_metadata(cache.repo_id(), commit, file);
  if (!metadata.ok()) return metadata.status();
  Result<FileLock> lock = FileLock::acquire(cache.lock_path(metadata->etag));
  if (!lock.ok()) return lock.status();
  // Under the lock: another process may have written the blob while we waited.
  Status cached = check_blob(
      cache.blob_path(metadata->etag), metadata->etag,
      BlobCheckOptions{metadata->size_bytes, cache.verified_record_path(metadata->etag)});
  if (cached.code() == StatusCode::kCorruption) {
    std::error_code error;  // damaged: drop it and fetch it again
    std::filesystem::remove(cache.blob_path(metadata->etag), error);
  } else if (!cached.ok() && cached.code() != StatusCode::kNotFound) {
    return cached;
  }
  if (!cached.ok()) {
    if (Status got = download_blob(api, cache, options, *metadata, file); !got.ok()) return got;
  }
  if (Status linked = cache.link(commit, file, metadata->etag); !linked.ok()) return linked;
  report(options, DownloadProgress::Phase::kDone, file, metadata->size_bytes);
  return Status();
}

Result<std::filesystem::path> download_snapshot(const RepoCache& cache, const HubOptions& options) {
  Result<HubApi> api = HubApi::create(options);
  if (!api.ok()) return api.status();
  Result<RepoInfo> info = api->repo_info(cache.repo_id(), options.revision);
  if (!info.ok()) return info.status();
  // Made first, as the Python tools do: their cache scan rejects a repo folder without it.
  std::error_code error;
  std::filesystem::create_directories(cache.snapshot_dir(info->commit), error);
  if (error) {
    return Status::io_error("cannot create " + cache.snapshot_dir(info->commit).string() + ": " +
                            error.message());
  }
  const std::string label = "model " + cache.repo_id() + " at revision " + options.revision;
  Result<std::vector<std::string>> plan = plan_model_files(info->files, label);
  if (!plan.ok()) return plan.status();
  const std::set<std::string> listed(info->files.begin(), info->files.end());
  for (const std::string& file : *plan) {
    if (Status fetched = fetch_file(*api, cache, options, info->commit, file); !fetched.ok()) {
      return fetched;
    }
    if (file != kWeightsIndexFile) continue;
    const std::filesystem::path index_path = cache.pointer_path(info->commit, file);
    Result<nlohmann::json> index = io::read_json_file(index_path);
    if (!index.ok()) return index.status();
    Result<std::vector<std::string>> shards = shards_of_index(*index, label + ": " + file);
    if (!shards.ok()) return shards.status();
    for (const std::string& shard : *shards) {
      if (!listed.contains(shard)) {
        return Status::not_found(label + ": " + file + " names shard " + shard +
                                 ", which the repository does not have");
      }
      if (Status fetched = fetch_file(*api, cache, options, info->commit, shard); !fetched.ok()) {
        return fetched;
      }
    }
  }
  // Only now does the revision name this commit: until its snapshot is whole, runs offline (and
  // the Python tools) keep the one it named before, which is whole.
  if (Status ref = cache.write_ref(options.revision, info->commit); !ref.ok()) return ref;
  return cache.snapshot_dir(info->commit);
}

}  // namespace

bool looks_like_local_path(std::string_view model) {
  if (model.starts_with('/') || model.starts_with('.') || model.starts_with('~')) return true;
  std::error_code error;
  return std::filesystem::exists(std::filesystem::path(std::string(model)), error);
}

Result<std::filesystem::path> resolve_model(std::string_view model, const HubOptions& options) {
  const std::filesystem::path as_path{std::string(model)};
  if (looks_like_local_path(model)) {
    std::error_code error;
    if (std::filesystem::is_directory(as_path, error)) return as_path;
    if (std::filesystem::exists(as_path, error)) {
      return Status::invalid_argument("model " + as_path.string() +
                                      " is a file; expected a checkpoint directory or a hub id");
    }
    return Status::not_found("model directory " + as_path.string() + " does not exist");
  }
  if (Status valid = validate_repo_id(model); !valid.ok()) return valid;
  if (options.cache_dir.empty()) {
    return Status::invalid_argument("no Hugging Face cache directory: set HF_HUB_CACHE or HF_HOME");
  }
  const RepoCache cache(options.cache_dir, std::string(model));
  if (!options.refresh || options.offline) {
    Result<std::filesystem::path> cached = cached_snapshot(cache, options.revision);
    if (cached.ok()) return cached;
    if (options.offline) {
      const StatusCode code = cached.status().code() == StatusCode::kCorruption
                                  ? StatusCode::kCorruption
                                  : StatusCode::kNotFound;
      return Status(code, "model " + std::string(model) + " (revision " + options.revision +
                              ") is not usable from the cache " + options.cache_dir.string() +
                              " (" + cached.status().message() +
                              ") and HF_HUB_OFFLINE=1: download it where the network is "
                              "available (vcap download " +
                              std::string(model) + ")");
    }
  }
  return download_snapshot(cache, options);
}

}  // namespace vcap::hub
