// What every part of the CUDA backend shares: the device, the one stream all work is ordered
// on, the stream-ordered memory pool, and the log of the first error seen since the last
// Backend::synchronize. Also the RAII owners of device and pinned host memory.
//
// Ownership: a CudaContext owns its stream and pool; DeviceMemory made by it frees itself on
// that stream, so the context must outlive all of it. Not thread-safe (one Backend, one thread).
#ifndef VCAP_TENSOR_CUDA_CUDA_CONTEXT_H_
#define VCAP_TENSOR_CUDA_CUDA_CONTEXT_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"

namespace vcap::tensor::cuda {

struct StreamDeleter {
  void operator()(cudaStream_t stream) const { cudaStreamDestroy(stream); }
};
struct EventDeleter {
  void operator()(cudaEvent_t event) const { cudaEventDestroy(event); }
};
struct MemPoolDeleter {
  void operator()(cudaMemPool_t pool) const { cudaMemPoolDestroy(pool); }
};
using UniqueStream = std::unique_ptr<CUstream_st, StreamDeleter>;
using UniqueEvent = std::unique_ptr<CUevent_st, EventDeleter>;
using UniqueMemPool = std::unique_ptr<CUmemPoolHandle_st, MemPoolDeleter>;

// "cudaErrorMemoryAllocation (out of memory)".
std::string cuda_error_text(cudaError_t error);

// Ok when `device` names a usable GPU; else the error of make_cuda_backend (cuda_backend.h):
// "no CUDA device 3 (found 2)".
Status check_device(int device);

// Device memory, freed in the destructor: stream-ordered (cudaFreeAsync on the context's
// stream) when it came from the pool, else with cudaFree. Move-only; empty when
// default-constructed.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(void* data, size_t size_bytes, cudaStream_t free_stream);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& other) noexcept;
  DeviceMemory& operator=(DeviceMemory&& other) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  std::byte* data() const { return static_cast<std::byte*>(data_); }
  size_t size_bytes() const { return size_; }

 private:
  void release();
  void* data_ = nullptr;
  size_t size_ = 0;
  cudaStream_t free_stream_ = nullptr;  // null: allocated with cudaMalloc
};

// Page-locked host memory (cudaMallocHost), for truly asynchronous copies. Move-only.
class PinnedMemory {
 public:
  PinnedMemory() = default;
  PinnedMemory(void* data, size_t size_bytes) : data_(data), size_(size_bytes) {}
  ~PinnedMemory();
  PinnedMemory(PinnedMemory&& other) noexcept;
  PinnedMemory& operator=(PinnedMemory&& other) noexcept;
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;

  std::byte* data() const { return static_cast<std::byte*>(data_); }
  size_t size_bytes() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

class CudaContext {
 public:
  // Selects `device` and creates the stream and the memory pool. The caller has checked that
  // the index is valid. Errors: kInternal / kOutOfMemory with the CUDA call that failed.
  static Result<std::unique_ptr<CudaContext>> create(int device);

  // Only create() can make the key (so only create() makes contexts).
  class Key {
    friend class CudaContext;
    Key() = default;
  };
  CudaContext(Key, int device, UniqueStream stream, UniqueMemPool pool,
              const cudaDeviceProp& props);

  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;
  ~CudaContext();

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_.get(); }
  const cudaDeviceProp& properties() const { return properties_; }

  // Device memory of `size_bytes` (at least 256-byte aligned). `what` names the request in
  // the error: "cuda:0: allocate f32 [4,5] (80 bytes): cudaErrorMemoryAllocation (...)".
  // Errors: kOutOfMemory when the device has not enough free memory; kInternal otherwise.
  // A failed request leaves no error behind for later calls.
  Result<DeviceMemory> allocate(size_t size_bytes, const std::string& what);

  // Pinned host memory; errors as allocate.
  Result<PinnedMemory> allocate_pinned(size_t size_bytes, const std::string& what);

  // True when `error` is cudaSuccess. Otherwise remembers the first such error since the last
  // take_error() ("cuda:0: <what>: <error>"), clears it from the runtime's last-error slot and
  // returns false.
  bool check(cudaError_t error, const char* what);

  // Makes this context's device the calling thread's current one (the current device is per
  // host thread, and a process may hold backends on several devices).
  void make_current();
  bool check(cublasStatus_t status, const char* what);

  // Remembers `status` (not ok) as check() does.
  void record(const Status& status);

  // True when an error is remembered.
  bool failed() const { return !first_error_.ok(); }

  // The first error since the last call (ok if none), and forgets it.
  Status take_error();

  // "cuda:0: " + text.
  std::string prefix(const std::string& text) const;

 private:
  int device_ = 0;
  UniqueStream stream_;
  UniqueMemPool pool_;  // null when the device has no memory pools: plain cudaMalloc then
  cudaDeviceProp properties_{};
  Status first_error_;
};

// Resizable device scratch that keeps its largest size. ensure() never shrinks it; growing
// frees the old memory in stream order, so ops already queued may still read it.
class DeviceScratch {
 public:
  // A buffer of at least `size_bytes`, or the allocation error.
  Result<std::byte*> ensure(CudaContext& context, size_t size_bytes, const char* what);

  // ensure(), and a new buffer is set to zero in stream order: for counters that the kernels
  // using them leave at zero.
  Result<std::byte*> ensure_zeroed(CudaContext& context, size_t size_bytes, const char* what);

 private:
  DeviceMemory memory_;
};

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_CUDA_CONTEXT_H_
