// Host -> device copies that return as soon as the host memory may be reused, without
// waiting for the GPU: the bytes go through a ring of pinned buffers, each reused only after
// the copy out of it has finished (an event per buffer). The ring's depth is how far the host
// may run ahead of the GPU in copies: a few for uploads and prepared weights (large, in
// chunks), many for the small per-op tables (attention blocks, row indices), of which one
// decode step uploads one per layer. Not thread-safe.
#ifndef VCAP_TENSOR_CUDA_HOST_TRANSFER_H_
#define VCAP_TENSOR_CUDA_HOST_TRANSFER_H_

#include <cstddef>
#include <vector>

#include "base/status.h"
#include "tensor/cuda/cuda_context.h"

namespace vcap::tensor::cuda {

class HostToDevice {
 public:
  // Bytes of one chunk: a pinned buffer holds at most this much (or one row, if larger).
  static constexpr size_t kChunkBytes = size_t{8} << 20;

  // A ring of `slots` pinned buffers (each made on first use, at least 64 KiB).
  explicit HostToDevice(size_t slots) : slots_(slots) {}

  // Copies `rows` rows of `width_bytes` from `host` (rows `host_pitch` bytes apart) to
  // `device` (rows `device_pitch` bytes apart), queued on the context's stream. The host memory
  // is not referenced after the call returns. False when a pinned buffer could not be had or a
  // CUDA call failed; the error is recorded in the context (CudaContext::check).
  bool copy_2d(CudaContext& context, std::byte* device, size_t device_pitch, const std::byte* host,
               size_t host_pitch, size_t width_bytes, size_t rows);

  // copy_2d of one contiguous range.
  bool copy(CudaContext& context, std::byte* device, const void* host, size_t bytes);

 private:
  struct Slot {
    PinnedMemory memory;
    UniqueEvent copied;  // recorded after the last copy out of `memory`
  };
  // The next slot, with room for `bytes`, once the GPU is done with it; null on an error
  // (recorded in the context).
  Slot* next_slot(CudaContext& context, size_t bytes);

  std::vector<Slot> slots_;
  size_t next_ = 0;
};

// Small op tables (a decode step's attention work items, row indices, token ids) that kernels
// read straight from pinned host memory, mapped into the device's address space: no copy in the
// stream. On the H200 an in-stream copy of a decode step's few-KB attention table cost about as
// much GPU time as the attention kernels themselves (a copy-engine round trip between kernels).
// A ring of slots, each reused only once the ops queued after it was placed have run (an event
// recorded when the next table is placed, after its readers were queued). Not thread-safe.
class MappedTables {
 public:
  // Tables above this size are better copied to device memory once than read over the bus by
  // every thread block (a vision chunk's attention table: hundreds of KB).
  static constexpr size_t kMaxBytes = size_t{32} << 10;

  explicit MappedTables(size_t slots) : slots_(slots) {}

  // A device-readable copy of `bytes` (<= kMaxBytes) bytes of `host`, valid for the ops queued
  // before the next call; null on an error (recorded in the context).
  const std::byte* place(CudaContext& context, const void* host, size_t bytes);

 private:
  // Made whole on first use (memory of kMaxBytes); `read` recorded after each use's readers were
  // queued, before the slot is used again.
  struct Slot {
    PinnedMemory memory;
    std::byte* device = nullptr;  // memory's address on the device; null until first used
    UniqueEvent read;
  };

  std::vector<Slot> slots_;
  size_t next_ = 0;
  Slot* last_ = nullptr;  // placed last: its readers are queued by the next call
};

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_HOST_TRANSFER_H_
