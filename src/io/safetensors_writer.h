// Writing safetensors checkpoints: one file, or hub-style shards plus an index (§3.1).
//
// The header lists tensors sorted by name (after an optional "__metadata__" of strings) and
// is padded with spaces to a multiple of 8 bytes, so every tensor's data starts 8-aligned
// when its size allows; the data follows in the same name order. Files are written
// atomically (io/atomic_file.h): a failed write leaves no partial file behind.
//
// Tensor bytes may come from memory (TensorToWrite) or from a TensorFiller callback that is
// asked for consecutive chunks of each tensor, so a multi-gigabyte checkpoint can be written
// with memory bounded by one chunk.
#ifndef VCAP_IO_SAFETENSORS_WRITER_H_
#define VCAP_IO_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/dtype.h"

namespace vcap::io {

// Name, dtype and shape of a tensor to write.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;

  int64_t num_elements() const;
  uint64_t size_bytes() const { return static_cast<uint64_t>(num_elements()) * dtype_size(dtype); }
};

// A tensor whose bytes are already in memory (little-endian, row-major).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;  // REQUIRES: num_elements * dtype_size bytes
};

// Fills `out` with elements [first_element, first_element + out.size() / dtype_size) of
// `spec`. Called for consecutive chunks of each tensor, tensors in file order.
using TensorFiller =
    std::function<Status(const TensorSpec& spec, int64_t first_element, std::span<std::byte> out)>;

// The metadata the Python library writes for PyTorch checkpoints.
inline const std::map<std::string, std::string> kPytorchMetadata{{"format", "pt"}};

// Writes one .safetensors file from tensors in memory. kInvalidArgument for duplicate or
// reserved names, negative dims, or a byte span that does not match dtype and shape.
Status write_safetensors(const std::filesystem::path& file, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata = kPytorchMetadata);

// Writes one .safetensors file whose bytes come from `fill`.
Status write_safetensors(const std::filesystem::path& file, std::span<const TensorSpec> specs,
                         const TensorFiller& fill,
                         const std::map<std::string, std::string>& metadata = kPytorchMetadata);

struct ShardOptions {
  // Most data bytes per shard file; a single larger tensor gets a shard of its own. The hub
  // checkpoints use 4 GB (2B: 2 shards, 7B: 5).
  uint64_t max_shard_bytes = 4'000'000'000;
  std::map<std::string, std::string> metadata = kPytorchMetadata;
};

// Writes the tensors into `dir` like Hugging Face save_pretrained: `model.safetensors` when
// they fit one shard, otherwise `model-0000k-of-0000n.safetensors` plus
// `model.safetensors.index.json` ({"metadata":{"total_size":N},"weight_map":{...}}).
// Tensors are assigned to shards in the given order, filling each shard greedily.
// REQUIRES: `dir` exists. Returns the files written (index last).
Result<std::vector<std::filesystem::path>> write_safetensors_sharded(
    const std::filesystem::path& dir, std::span<const TensorSpec> specs, const TensorFiller& fill,
    const ShardOptions& options = {});

// The shard file name for shard `index` (0-based) of `count`: "model-00001-of-00002.safetensors".
std::string shard_file_name(int index, int count);

}  // namespace vcap::io

#endif  // VCAP_IO_SAFETENSORS_WRITER_H_
