#include "tensor/cuda/host_transfer.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace vcap::tensor::cuda {

HostToDevice::Slot* HostToDevice::next_slot(CudaContext& context, size_t bytes) {
  Slot& slot = slots_[next_];
  next_ = (next_ + 1) % slots_.size();
  if (slot.copied) {
    // Usually long done: the ring is slots_.size() copies deep.
    if (!context.check(cudaEventSynchronize(slot.copied.get()), "cudaEventSynchronize")) {
      return nullptr;
    }
  } else {
    cudaEvent_t event = nullptr;
    if (!context.check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                       "cudaEventCreateWithFlags")) {
      return nullptr;
    }
    slot.copied.reset(event);
  }
  if (slot.memory.size_bytes() < bytes) {
    slot.memory = PinnedMemory();  // free first: pinned memory is a scarce resource
    const size_t size = std::max(bytes, size_t{64} << 10);
    auto memory =
        context.allocate_pinned(size, "pinned staging of " + std::to_string(size) + " bytes");
    if (!memory.ok()) {
      context.record(memory.status());
      return nullptr;
    }
    slot.memory = std::move(*memory);
  }
  return &slot;
}

bool HostToDevice::copy_2d(CudaContext& context, std::byte* device, size_t device_pitch,
                           const std::byte* host, size_t host_pitch, size_t width_bytes,
                           size_t rows) {
  if (rows == 0 || width_bytes == 0) return true;
  const size_t rows_per_chunk = std::max<size_t>(1, kChunkBytes / width_bytes);
  for (size_t first = 0; first < rows; first += rows_per_chunk) {
    const size_t count = std::min(rows_per_chunk, rows - first);
    Slot* slot = next_slot(context, count * width_bytes);
    if (slot == nullptr) return false;
    std::byte* pinned = slot->memory.data();
    for (size_t r = 0; r < count; ++r) {
      std::memcpy(pinned + r * width_bytes, host + (first + r) * host_pitch, width_bytes);
    }
    const bool ok =
        context.check(
            cudaMemcpy2DAsync(device + first * device_pitch, device_pitch, pinned, width_bytes,
                              width_bytes, count, cudaMemcpyHostToDevice, context.stream()),
            "cudaMemcpy2DAsync (host to device)") &&
        context.check(cudaEventRecord(slot->copied.get(), context.stream()), "cudaEventRecord");
    if (!ok) return false;
  }
  return true;
}

bool HostToDevice::copy(CudaContext& context, std::byte* device, const void* host, size_t bytes) {
  // One "row" per chunk keeps the 2-D copy's pitch arithmetic trivial.
  const auto* source = static_cast<const std::byte*>(host);
  for (size_t done = 0; done < bytes; done += kChunkBytes) {
    const size_t count = std::min(kChunkBytes, bytes - done);
    if (!copy_2d(context, device + done, count, source + done, count, count, 1)) return false;
  }
  return true;
}

const std::byte* MappedTables::place(CudaContext& context, const void* host, size_t bytes) {
  // Everything that reads the last table was queued before this call.
  if (last_ != nullptr &&
      !context.check(cudaEventRecord(last_->read.get(), context.stream()), "cudaEventRecord")) {
    return nullptr;
  }
  Slot& slot = slots_[next_];
  next_ = (next_ + 1) % slots_.size();
  last_ = nullptr;
  if (slot.device == nullptr) {
    // First use: kMaxBytes of pinned memory, its device address, the event of its readers.
    auto memory = context.allocate_pinned(kMaxBytes, "pinned op tables");
    if (!memory.ok()) {
      context.record(memory.status());
      return nullptr;
    }
    void* device = nullptr;
    cudaEvent_t event = nullptr;
    if (!context.check(cudaHostGetDevicePointer(&device, memory->data(), 0),
                       "cudaHostGetDevicePointer") ||
        !context.check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                       "cudaEventCreateWithFlags")) {
      return nullptr;
    }
    slot.memory = std::move(*memory);
    slot.read.reset(event);
    slot.device = static_cast<std::byte*>(device);
  } else if (!context.check(cudaEventSynchronize(slot.read.get()), "cudaEventSynchronize")) {
    // Usually long done: the ring is slots_.size() tables deep.
    return nullptr;
  }
  std::memcpy(slot.memory.data(), host, bytes);
  last_ = &slot;
  return slot.device;
}

}  // namespace vcap::tensor::cuda
