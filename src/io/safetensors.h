// Reading safetensors checkpoints (spec/QWEN2VL.md §3.1, §3.3).
//
// A safetensors file is an 8-byte little-endian header length n, n bytes of JSON mapping each
// tensor name to {dtype, shape, data_offsets:[begin, end]} (offsets from the first byte after
// the header; an optional "__metadata__" object of strings), then the raw little-endian bytes.
// A checkpoint is one such file or several shards listed by `model.safetensors.index.json`
// ({"metadata": {...}, "weight_map": {name: shard file}}).
//
// Everything read from disk is validated before use: header length (<= kMaxHeaderBytes and
// inside the file), JSON syntax, known dtype, shape product x dtype size == byte span, spans
// inside the data area and not overlapping, metadata values are strings, index entries name
// shards that exist and hold the tensor. Every error message names the file, the tensor when
// there is one, and what is wrong. Bad bytes give a Status, never a crash.
//
// Names are normalised to the original hub layout: `model.visual.X` -> `visual.X` and
// `model.language_model.X` -> `model.X` (§3.3); a checkpoint that mixes both layouts is
// rejected (kCorruption).
#ifndef VCAP_IO_SAFETENSORS_H_
#define VCAP_IO_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/dtype.h"
#include "io/mapped_file.h"

namespace vcap::io {

// Refuse headers larger than this (the Python library uses the same 100 MB limit).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// One tensor of a checkpoint: a view of its bytes inside a mapped file (or in-memory image).
struct TensorEntry {
  std::string name;  // normalised (original hub layout)
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;        // row-major; empty for a scalar
  std::span<const std::byte> bytes;  // exactly num_elements() * dtype_size(dtype) bytes
  std::filesystem::path file;        // the file it was read from (for messages)

  int64_t num_elements() const;
  size_t size_bytes() const { return bytes.size(); }
};

// What one parsed safetensors image holds.
struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;             // in data-offset order, names as stored
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
  uint64_t data_offset_bytes = 0;               // 8 + header length
};

// Parses a whole safetensors file image already in memory. The entries' byte spans point into
// `image`, which must outlive them. `file` is used only in error messages. Names are returned
// as stored (not normalised). Fuzzed (fuzz/safetensors_fuzz.cpp).
Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> image,
                                            const std::filesystem::path& file);

// Maps `model.visual.` -> `visual.` and `model.language_model.` -> `model.`; other names are
// returned unchanged.
std::string normalize_tensor_name(std::string_view name);

// A read-only checkpoint: all its files mapped, every tensor indexed by normalised name.
// The checkpoint owns the mappings: every TensorEntry (and its byte span) returned by find()
// stays valid as long as this object, or the one it is moved into, lives. Move-only.
// Thread safety: const methods may be called from any number of threads.
class SafetensorsCheckpoint {
 public:
  // `path` is a model directory (holding `model.safetensors.index.json` or, failing that,
  // `model.safetensors`), an index .json file, or a single .safetensors file.
  // kNotFound when there is no checkpoint there, kCorruption for malformed files,
  // kUnsupported for dtypes vcap does not read.
  static Result<SafetensorsCheckpoint> open(const std::filesystem::path& path);

  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint(const SafetensorsCheckpoint&) = delete;
  SafetensorsCheckpoint& operator=(const SafetensorsCheckpoint&) = delete;

  // The tensor called `name` (original hub layout), or nullptr.
  const TensorEntry* find(std::string_view name) const;
  // All normalised names, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  // All tensors, sorted by name.
  std::span<const TensorEntry> tensors() const { return tensors_; }
  // The mapped files, in the order they were opened (one per shard).
  size_t num_files() const { return files_.size(); }
  // Sum of all tensors' byte sizes.
  uint64_t total_bytes() const;

 private:
  SafetensorsCheckpoint() = default;

  std::vector<MappedFile> files_;     // owns the bytes every entry points into
  std::vector<TensorEntry> tensors_;  // sorted by name, names unique
};

}  // namespace vcap::io

#endif  // VCAP_IO_SAFETENSORS_H_
