// Turning what the user passed as --model into a local checkpoint folder.
//
// Resolution order, for `model`:
//   1. an existing directory: that directory, as is;
//   2. a hub id ("Qwen/Qwen2-VL-2B-Instruct"): the cached snapshot of options.revision in the
//      Hugging Face cache (shared with the Python tools: models already downloaded by them are
//      reused, and theirs by us), when it holds every file vcap needs (hub/model_files.h) and
//      each one matches its checksum (hub/blob_check.h) — no network needed;
//   3. otherwise the missing or damaged files are downloaded into the cache (unless
//      options.offline), and the snapshot folder is returned.
//
// Downloads resume partial files, check sizes and checksums before a file enters the cache,
// and take a lock per file, so several processes (ranks) may resolve the same model at once.
// The returned folder is `<cache>/models--ORG--NAME/snapshots/<commit>`; its files are
// symlinks into blobs/. Thread-safe: calls share nothing but the cache on disk.
#ifndef VCAP_HUB_MODEL_RESOLVER_H_
#define VCAP_HUB_MODEL_RESOLVER_H_

#include <filesystem>
#include <string_view>

#include "base/status.h"
#include "hub/hub_options.h"

namespace vcap::hub {

// Errors, each one line: kNotFound for a missing directory, an unknown model (404) or a model
// not cached while offline ("... and HF_HUB_OFFLINE=1"); kInvalidArgument for a malformed id
// or no access (401/403, says to set HF_TOKEN); kIoError for the network (libcurl's reason) and
// the disk (disk full: rerun resumes); kCorruption for a download whose checksum is wrong
// (nothing is kept; a rerun fetches it again) or a damaged cached file while offline.
Result<std::filesystem::path> resolve_model(std::string_view model, const HubOptions& options);

// True when `model` looks like a filesystem path rather than a hub id: it starts with '/',
// '.', or '~', or exists on disk.
bool looks_like_local_path(std::string_view model);

}  // namespace vcap::hub

#endif  // VCAP_HUB_MODEL_RESOLVER_H_
