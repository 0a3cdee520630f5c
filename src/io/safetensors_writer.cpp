#include "io/safetensors_writer.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "io/atomic_file.h"
#include "io/json_file.h"

namespace vcap::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bytes requested from a TensorFiller per call: bounds the writer's memory.
constexpr uint64_t kChunkBytes = 16u << 20;

Status check_specs(std::span<const TensorSpec> specs, const fs::path& file) {
  std::set<std::string_view> names;
  for (const TensorSpec& spec : specs) {
    const std::string where = file.string() + ": tensor '" + spec.name + "'";
    if (spec.name == "__metadata__") return Status::invalid_argument(where + ": reserved name");
    if (!names.insert(spec.name).second) return Status::invalid_argument(where + ": duplicate");
    uint64_t bytes = dtype_size(spec.dtype);
    for (int64_t dim : spec.shape) {
      if (dim < 0) return Status::invalid_argument(where + ": negative dimension");
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
        return Status::invalid_argument(where + ": shape too large");
      }
    }
  }
  return Status();
}

// The header text: metadata first, then tensors in `order`, padded with spaces to 8 bytes.
std::string build_header(std::span<const TensorSpec* const> order,
                         const std::map<std::string, std::string>& metadata) {
  std::string text = "{";
  if (!metadata.empty()) text += "\"__metadata__\":" + json(metadata).dump();
  uint64_t offset = 0;
  for (const TensorSpec* spec : order) {
    if (text.size() > 1) text += ",";
    const uint64_t end = offset + spec->size_bytes();
    text += json(spec->name).dump() + ":{\"dtype\":\"" + dtype_name(spec->dtype) +
            "\",\"shape\":" + json(spec->shape).dump() + ",\"data_offsets\":[" +
            std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

Status write_tensor_data(AtomicFile& out, const TensorSpec& spec, const TensorFiller& fill,
                         std::vector<std::byte>& chunk) {
  const uint64_t element_bytes = dtype_size(spec.dtype);
  const int64_t total = spec.num_elements();
  const int64_t chunk_elements = static_cast<int64_t>(kChunkBytes / element_bytes);
  for (int64_t first = 0; first < total; first += chunk_elements) {
    const int64_t count = std::min(chunk_elements, total - first);
    chunk.resize(static_cast<size_t>(count) * element_bytes);
    if (Status s = fill(spec, first, chunk); !s.ok()) return s;
    if (Status s = out.write(chunk); !s.ok()) return s;
  }
  return Status();
}

}  // namespace

int64_t TensorSpec::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string shard_file_name(int index, int count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", index + 1, count);
  return name;
}

Status write_safetensors(const fs::path& file, std::span<const TensorSpec> specs,
                         const TensorFiller& fill,
                         const std::map<std::string, std::string>& metadata) {
  if (Status s = check_specs(specs, file); !s.ok()) return s;
  std::vector<const TensorSpec*> order;
  for (const TensorSpec& spec : specs) order.push_back(&spec);
  std::sort(order.begin(), order.end(),
            [](const TensorSpec* a, const TensorSpec* b) { return a->name < b->name; });
  std::string header;
  try {
    header = build_header(order, metadata);
  } catch (const json::exception& e) {  // a name or metadata value that is not UTF-8
    return Status::invalid_argument(file.string() + ": cannot write header: " + e.what());
  }
  Result<AtomicFile> out = AtomicFile::create(file);
  if (!out) return out.status();
  std::byte length[8];
  for (size_t i = 0; i < 8; ++i) length[i] = static_cast<std::byte>(header.size() >> (8 * i));
  if (Status s = out->write(length); !s.ok()) return s;
  if (Status s = out->write(header); !s.ok()) return s;
  std::vector<std::byte> chunk;
  for (const TensorSpec* spec : order) {
    if (Status s = write_tensor_data(*out, *spec, fill, chunk); !s.ok()) return s;
  }
  return out->commit();
}

Status write_safetensors(const fs::path& file, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  std::map<std::string_view, std::span<const std::byte>> bytes_by_name;
  for (const TensorToWrite& tensor : tensors) {
    specs.push_back({tensor.name, tensor.dtype, tensor.shape});
    bytes_by_name[tensor.name] = tensor.bytes;
  }
  if (Status s = check_specs(specs, file); !s.ok()) return s;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (tensors[i].bytes.size() != specs[i].size_bytes()) {
      return Status::invalid_argument(file.string() + ": tensor '" + specs[i].name +
                                      "': " + std::to_string(tensors[i].bytes.size()) +
                                      " bytes given, dtype and shape need " +
                                      std::to_string(specs[i].size_bytes()));
    }
  }
  const TensorFiller copy = [&](const TensorSpec& spec, int64_t first, std::span<std::byte> out) {
    const std::span<const std::byte> source = bytes_by_name.at(spec.name);
    const size_t offset = static_cast<size_t>(first) * dtype_size(spec.dtype);
    std::copy_n(source.begin() + static_cast<ptrdiff_t>(offset), out.size(), out.begin());
    return Status();
  };
  return write_safetensors(file, specs, copy, metadata);
}

Result<std::vector<fs::path>> write_safetensors_sharded(const fs::path& dir,
                                                        std::span<const TensorSpec> specs,
                                                        const TensorFiller& fill,
                                                        const ShardOptions& options) {
  if (Status s = check_specs(specs, dir); !s.ok()) return s;
  // Greedy assignment in the given order, as huggingface_hub's split_state_dict_into_shards.
  std::vector<std::vector<TensorSpec>> shards;
  uint64_t shard_bytes = 0;
  uint64_t total_bytes = 0;
  for (const TensorSpec& spec : specs) {
    const uint64_t bytes = spec.size_bytes();
    if (shards.empty() || shard_bytes + bytes > options.max_shard_bytes) {
      if (shards.empty() || !shards.back().empty()) shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(spec);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  if (shards.empty()) shards.emplace_back();

  std::vector<fs::path> written;
  if (shards.size() == 1) {
    const fs::path file = dir / "model.safetensors";
    if (Status s = write_safetensors(file, shards[0], fill, options.metadata); !s.ok()) return s;
    written.push_back(file);
    return written;
  }
  json weight_map = json::object();
  const int count = static_cast<int>(shards.size());
  for (int i = 0; i < count; ++i) {
    const std::string name = shard_file_name(i, count);
    if (Status s = write_safetensors(dir / name, shards[i], fill, options.metadata); !s.ok()) {
      return s;
    }
    for (const TensorSpec& spec : shards[i]) weight_map[spec.name] = name;
    written.push_back(dir / name);
  }
  const json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (Status s = write_json_file(index_path, index); !s.ok()) return s;
  written.push_back(index_path);
  return written;
}

}  // namespace vcap::io
