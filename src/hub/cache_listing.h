// What the Hugging Face cache holds, for `vcap models`. Reads only; never hashes (a listing
// of a cache with 100 GB of weights stays instant), so "complete" means every file vcap needs
// is present, not that each was checked: resolve_model does that before loading.
#ifndef VCAP_HUB_CACHE_LISTING_H_
#define VCAP_HUB_CACHE_LISTING_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"

namespace vcap::hub {

struct CachedSnapshot {
  std::string commit;
  std::vector<std::string> refs;  // revisions (branches, tags) that name this commit, sorted
  bool complete = false;          // every file vcap needs is present (hub/model_files.h)
  std::string missing;            // when not complete: what lacks ("... lacks tokenizer.json")
};

struct CachedModel {
  std::string repo_id;                    // "Qwen/Qwen2-VL-2B-Instruct"
  std::filesystem::path folder;           // <cache>/models--Qwen--Qwen2-VL-2B-Instruct
  uint64_t size_bytes = 0;                // every blob, partial downloads included
  uint64_t partial_bytes = 0;             // the *.incomplete part of size_bytes
  std::vector<CachedSnapshot> snapshots;  // sorted by commit
};

// The model repositories (models--* folders) in `cache_dir`, sorted by repo id. A cache
// folder that does not exist yet holds nothing (an empty list, not an error). kIoError when
// the folder cannot be read.
Result<std::vector<CachedModel>> list_cached_models(const std::filesystem::path& cache_dir);

}  // namespace vcap::hub

#endif  // VCAP_HUB_CACHE_LISTING_H_
