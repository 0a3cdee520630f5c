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

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_HOST_TRANSFER_H_
