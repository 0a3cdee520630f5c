#include "hub/cache_listing.h"

#include <algorithm>
#include <fstream>

#include "hub/model_files.h"

namespace vcap::hub {
namespace {

constexpr std::string_view kModelsPrefix = "models--";

// "models--ORG--NAME" -> "ORG/NAME" (ids cannot contain "--", so the split is unambiguous).
std::string repo_id_of_folder(const std::string& folder_name) {
  std::string id = folder_name.substr(kModelsPrefix.size());
  const size_t separator = id.find("--");
  if (separator != std::string::npos) id.replace(separator, 2, "/");
  return id;
}

void add_blob_sizes(const std::filesystem::path& blobs, CachedModel& model) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(blobs, error)) {
    if (!entry.is_regular_file(error)) continue;
    const uint64_t size = entry.file_size(error);
    if (error) continue;
    model.size_bytes += size;
    if (entry.path().extension() == ".incomplete") model.partial_bytes += size;
  }
}

// refs/ may hold nested names ("refs/pr/1"): walk it recursively.
std::vector<std::pair<std::string, std::string>> read_refs(const std::filesystem::path& refs) {
  std::vector<std::pair<std::string, std::string>> named;  // (revision, commit)
  std::error_code error;
  // Stepped with an error code: a folder it may not read (refs/pr made under umask 077 by
  // another user) ends the walk instead of throwing out of `vcap models`.
  const auto options = std::filesystem::directory_options::skip_permission_denied;
  for (std::filesystem::recursive_directory_iterator it(refs, options, error), end;
       !error && it != end; it.increment(error)) {
    const std::filesystem::directory_entry& entry = *it;
    std::error_code kind_error;
    if (!entry.is_regular_file(kind_error)) continue;
    std::ifstream in(entry.path());
    std::string commit;
    if (in >> commit) {
      named.emplace_back(entry.path().lexically_relative(refs).generic_string(), commit);
    }
  }
  return named;
}

CachedModel describe_repo(const std::filesystem::path& folder) {
  CachedModel model;
  model.repo_id = repo_id_of_folder(folder.filename().string());
  model.folder = folder;
  add_blob_sizes(folder / "blobs", model);
  const auto refs = read_refs(folder / "refs");
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder / "snapshots", error)) {
    if (!entry.is_directory(error)) continue;
    CachedSnapshot snapshot;
    snapshot.commit = entry.path().filename().string();
    for (const auto& [revision, commit] : refs) {
      if (commit == snapshot.commit) snapshot.refs.push_back(revision);
    }
    std::sort(snapshot.refs.begin(), snapshot.refs.end());
    const std::filesystem::path dir = entry.path();
    Result<std::vector<std::string>> files =
        model_files_in_snapshot(dir, [&](const std::string& file) {
          std::error_code missing;
          return std::filesystem::exists(dir / file, missing);  // follows the symlink
        });
    snapshot.complete = files.ok();
    if (!files.ok()) snapshot.missing = files.status().message();
    model.snapshots.push_back(std::move(snapshot));
  }
  std::sort(model.snapshots.begin(), model.snapshots.end(),
            [](const CachedSnapshot& a, const CachedSnapshot& b) { return a.commit < b.commit; });
  return model;
}

}  // namespace

Result<std::vector<CachedModel>> list_cached_models(const std::filesystem::path& cache_dir) {
  std::vector<CachedModel> models;
  std::error_code error;
  if (!std::filesystem::exists(cache_dir, error)) return models;
  std::filesystem::directory_iterator entries(cache_dir, error);
  if (error) {
    return Status::io_error("cannot read the cache folder " + cache_dir.string() + ": " +
                            error.message());
  }
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kModelsPrefix) || !entry.is_directory(error)) continue;
    models.push_back(describe_repo(entry.path()));
  }
  std::sort(models.begin(), models.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.repo_id < b.repo_id; });
  return models;
}

}  // namespace vcap::hub
