// SafetensorsCheckpoint: one file or an index plus shards, mapped and indexed by name.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/json_file.h"
#include "io/safetensors.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

enum class Layout { kNeutral, kOriginal, kNewer };

// §3.3: which naming layout a stored name belongs to (lm_head and others belong to both).
Layout layout_of(std::string_view name) {
  if (name.starts_with("model.visual.") || name.starts_with("model.language_model.")) {
    return Layout::kNewer;
  }
  if (name.starts_with("visual.") || name.starts_with("model.")) return Layout::kOriginal;
  return Layout::kNeutral;
}

// A shard named by the index must be a plain file name next to the index.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

struct IndexFile {
  std::map<std::string, std::string> weight_map;  // stored tensor name -> shard file name
};

Result<IndexFile> read_index(const fs::path& index_path) {
  Result<json> index = read_json_file(index_path);
  if (!index) return index.status();
  if (!index->is_object()) {
    return Status::corruption(index_path.string() + ": index is not a JSON object");
  }
  const auto map_it = index->find("weight_map");
  if (map_it == index->end() || !map_it->is_object()) {
    return Status::corruption(index_path.string() + ": missing object 'weight_map'");
  }
  IndexFile out;
  for (const auto& [name, shard] : map_it->items()) {
    if (!shard.is_string() || !is_plain_file_name(shard.get<std::string>())) {
      return Status::corruption(index_path.string() + ": weight_map entry '" + name +
                                "' is not a plain shard file name");
    }
    out.weight_map.emplace(name, shard.get<std::string>());
  }
  if (out.weight_map.empty()) {
    return Status::corruption(index_path.string() + ": weight_map is empty");
  }
  return out;
}

// Checks every tensor that the index places in `shard` is really there.
Status check_index_entries(const IndexFile& index, const fs::path& index_path,
                           const std::string& shard, const SafetensorsHeader& header) {
  std::set<std::string_view> stored;
  for (const TensorEntry& entry : header.tensors) stored.insert(entry.name);
  for (const auto& [name, file] : index.weight_map) {
    if (file == shard && !stored.contains(name)) {
      return Status::corruption(index_path.string() + ": tensor '" + name + "' is mapped to " +
                                shard + " but that file does not hold it");
    }
  }
  return Status();
}

// The files that make up the checkpoint at `path`, with the index when there is one.
struct CheckpointFiles {
  fs::path index_path;  // empty for a single file
  IndexFile index;
  std::vector<std::pair<fs::path, std::string>> files;  // path, shard name in the index
};

Result<CheckpointFiles> locate_files(const fs::path& path) {
  std::error_code ec;
  CheckpointFiles out;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / kIndexFile, ec)) {
      out.index_path = path / kIndexFile;
    } else if (fs::exists(path / kSingleFile, ec)) {
      out.files.emplace_back(path / kSingleFile, kSingleFile);
      return out;
    } else {
      return Status::not_found(path.string() + ": no " + kIndexFile + " or " + kSingleFile);
    }
  } else if (!fs::exists(path, ec)) {
    return Status::not_found(path.string() + ": no such checkpoint file or directory");
  } else if (path.extension() == ".json") {
    out.index_path = path;
  } else {
    out.files.emplace_back(path, path.filename().string());
    return out;
  }
  Result<IndexFile> index = read_index(out.index_path);
  if (!index) return index.status();
  out.index = std::move(index).value();
  std::set<std::string> seen;
  for (const auto& [name, shard] : out.index.weight_map) {
    if (!seen.insert(shard).second) continue;
    const fs::path shard_path = out.index_path.parent_path() / shard;
    if (!fs::exists(shard_path, ec)) {
      return Status::not_found(out.index_path.string() + ": shard " + shard + " (tensor '" + name +
                               "') does not exist");
    }
    out.files.emplace_back(shard_path, shard);
  }
  return out;
}

}  // namespace

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open(const fs::path& path) {
  Result<CheckpointFiles> located = locate_files(path);
  if (!located) return located.status();
  const CheckpointFiles& plan = *located;
  SafetensorsCheckpoint checkpoint;
  bool has_original = false;
  bool has_newer = false;
  for (const auto& [file_path, shard_name] : plan.files) {
    Result<MappedFile> mapped = MappedFile::open(file_path);
    if (!mapped) return mapped.status();
    Result<SafetensorsHeader> header = parse_safetensors(mapped->bytes(), file_path);
    if (!header) return header.status();
    if (!plan.index_path.empty()) {
      Status s = check_index_entries(plan.index, plan.index_path, shard_name, *header);
      if (!s.ok()) return s;
    }
    for (TensorEntry& entry : header->tensors) {
      const Layout layout = layout_of(entry.name);
      has_original |= layout == Layout::kOriginal;
      has_newer |= layout == Layout::kNewer;
      if (has_original && has_newer) {
        return Status::corruption(file_path.string() + ": tensor '" + entry.name +
                                  "' mixes the original and the newer (model.language_model.) "
                                  "name layouts in one checkpoint");
      }
      entry.name = normalize_tensor_name(entry.name);
      checkpoint.tensors_.push_back(std::move(entry));
    }
    checkpoint.files_.push_back(std::move(mapped).value());
  }

  std::vector<TensorEntry>& tensors = checkpoint.tensors_;
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].name == tensors[i - 1].name) {
      return Status::corruption(tensors[i].file.string() + ": tensor '" + tensors[i].name +
                                "' is stored twice (also in " + tensors[i - 1].file.string() + ")");
    }
  }
  return checkpoint;
}

const TensorEntry* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorEntry& e, std::string_view n) { return e.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorEntry& entry : tensors_) out.push_back(entry.name);
  return out;
}

uint64_t SafetensorsCheckpoint::total_bytes() const {
  uint64_t total = 0;
  for (const TensorEntry& entry : tensors_) total += entry.bytes.size();
  return total;
}

}  // namespace vcap::io
