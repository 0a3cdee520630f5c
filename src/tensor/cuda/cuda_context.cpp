#include "tensor/cuda/cuda_context.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

namespace vcap::tensor::cuda {

std::string cuda_error_text(cudaError_t error) {
  std::string text = cudaGetErrorName(error);
  text += " (";
  text += cudaGetErrorString(error);
  text += ")";
  return text;
}

// --- DeviceMemory --------------------------------------------------------------------------

DeviceMemory::DeviceMemory(void* data, size_t size_bytes, cudaStream_t free_stream)
    : data_(data), size_(size_bytes), free_stream_(free_stream) {}

DeviceMemory::~DeviceMemory() { release(); }

DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      free_stream_(std::exchange(other.free_stream_, nullptr)) {}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    free_stream_ = std::exchange(other.free_stream_, nullptr);
  }
  return *this;
}

void DeviceMemory::release() {
  if (data_ == nullptr) return;
  // A failure here (after a sticky device error) cannot be reported from a destructor; the
  // error is already recorded by the op that caused it. It is cleared from the runtime's
  // last-error slot, where the next kernel launch would be blamed for it.
  const cudaError_t error =
      free_stream_ != nullptr ? cudaFreeAsync(data_, free_stream_) : cudaFree(data_);
  if (error != cudaSuccess) cudaGetLastError();
  data_ = nullptr;
}

// --- PinnedMemory --------------------------------------------------------------------------

PinnedMemory::~PinnedMemory() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

PinnedMemory::PinnedMemory(PinnedMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PinnedMemory& PinnedMemory::operator=(PinnedMemory&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

// --- CudaContext ---------------------------------------------------------------------------

namespace {

std::string device_prefix(int device) { return "cuda:" + std::to_string(device) + ": "; }

Status cuda_status(int device, const std::string& what, cudaError_t error) {
  std::string message = device_prefix(device) + what + ": " + cuda_error_text(error);
  if (error == cudaErrorMemoryAllocation) return Status::out_of_memory(std::move(message));
  return Status::internal(std::move(message));
}

// A pool of this device's memory that keeps what is freed for reuse (release threshold:
// never), so that per-clip tensors cost no cudaMalloc after the first clip.
Result<UniqueMemPool> make_pool(int device) {
  int supported = 0;
  cudaError_t error = cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device);
  if (error != cudaSuccess) return cuda_status(device, "cudaDeviceGetAttribute", error);
  if (supported == 0) return UniqueMemPool();
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  cudaMemPool_t pool = nullptr;
  error = cudaMemPoolCreate(&pool, &props);
  if (error != cudaSuccess) return cuda_status(device, "cudaMemPoolCreate", error);
  UniqueMemPool owned(pool);
  uint64_t threshold = std::numeric_limits<uint64_t>::max();
  error = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  if (error != cudaSuccess) return cuda_status(device, "cudaMemPoolSetAttribute", error);
  return owned;
}

}  // namespace

CudaContext::CudaContext(Key, int device, UniqueStream stream, UniqueMemPool pool,
                         const cudaDeviceProp& props)
    : device_(device), stream_(std::move(stream)), pool_(std::move(pool)), properties_(props) {}

CudaContext::~CudaContext() {
  // Nothing queued may outlive the stream and the pool it uses.
  if (stream_) cudaStreamSynchronize(stream_.get());
}

Result<std::unique_ptr<CudaContext>> CudaContext::create(int device) {
  cudaError_t error = cudaSetDevice(device);
  if (error != cudaSuccess) return cuda_status(device, "cudaSetDevice", error);
  cudaDeviceProp props{};
  error = cudaGetDeviceProperties(&props, device);
  if (error != cudaSuccess) return cuda_status(device, "cudaGetDeviceProperties", error);
  cudaStream_t stream = nullptr;
  // Non-blocking: our work never waits for (or on) the legacy default stream.
  error = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (error != cudaSuccess) return cuda_status(device, "cudaStreamCreateWithFlags", error);
  UniqueStream owned_stream(stream);
  auto pool = make_pool(device);
  if (!pool.ok()) return pool.status();
  return std::make_unique<CudaContext>(Key(), device, std::move(owned_stream), std::move(*pool),
                                       props);
}

Result<DeviceMemory> CudaContext::allocate(size_t size_bytes, const std::string& what) {
  const size_t bytes = size_bytes == 0 ? 1 : size_bytes;  // a distinct, valid pointer
  if (bytes > properties_.totalGlobalMem) {
    return Status::out_of_memory(prefix(what + ": more than the device's " +
                                        std::to_string(properties_.totalGlobalMem) + " bytes"));
  }
  void* data = nullptr;
  if (!pool_) {
    const cudaError_t error = cudaMalloc(&data, bytes);
    if (error == cudaSuccess) return DeviceMemory(data, size_bytes, nullptr);
    cudaGetLastError();  // a failed allocation must not be reported again by a later call
    return cuda_status(device_, what, error);
  }
  cudaError_t error = cudaMallocFromPoolAsync(&data, bytes, pool_.get(), stream());
  if (error == cudaErrorMemoryAllocation) {
    // Memory freed by earlier clips may sit in the pool in blocks of the wrong size: wait for
    // the queued frees, give the unused blocks back to the device and try once more.
    cudaGetLastError();
    cudaStreamSynchronize(stream());
    cudaMemPoolTrimTo(pool_.get(), 0);
    error = cudaMallocFromPoolAsync(&data, bytes, pool_.get(), stream());
  }
  if (error == cudaSuccess) return DeviceMemory(data, size_bytes, stream());
  cudaGetLastError();
  return cuda_status(device_, what, error);
}

Result<PinnedMemory> CudaContext::allocate_pinned(size_t size_bytes, const std::string& what) {
  void* data = nullptr;
  const cudaError_t error = cudaMallocHost(&data, size_bytes == 0 ? 1 : size_bytes);
  if (error == cudaSuccess) return PinnedMemory(data, size_bytes);
  cudaGetLastError();
  return cuda_status(device_, what, error);
}

bool CudaContext::check(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return true;
  // Cleared from the runtime's last-error slot, where the next launch's cudaGetLastError()
  // would find it again and fail an op of a later clip (sticky errors stay regardless).
  cudaGetLastError();
  if (first_error_.ok()) first_error_ = cuda_status(device_, what, error);
  return false;
}

void CudaContext::make_current() { check(cudaSetDevice(device_), "cudaSetDevice"); }

bool CudaContext::check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return true;
  if (first_error_.ok()) {
    std::string message = prefix(what);
    message += ": ";
    message += cublasLtGetStatusName(status);
    message += " (";
    message += cublasLtGetStatusString(status);
    message += ")";
    first_error_ = status == CUBLAS_STATUS_ALLOC_FAILED ? Status::out_of_memory(message)
                                                        : Status::internal(message);
  }
  return false;
}

void CudaContext::record(const Status& status) {
  if (first_error_.ok()) first_error_ = status;
}

Status CudaContext::take_error() { return std::exchange(first_error_, Status()); }

std::string CudaContext::prefix(const std::string& text) const {
  return device_prefix(device_) + text;
}

// --- DeviceScratch -------------------------------------------------------------------------

Result<std::byte*> DeviceScratch::ensure(CudaContext& context, size_t size_bytes,
                                         const char* what) {
  if (memory_.data() != nullptr && memory_.size_bytes() >= size_bytes) return memory_.data();
  // Grow by half again, so that slowly growing requests (longer prompts) reallocate rarely.
  const size_t grown = std::max(size_bytes, memory_.size_bytes() + memory_.size_bytes() / 2);
  auto memory =
      context.allocate(grown, std::string(what) + " (" + std::to_string(grown) + " bytes)");
  if (!memory.ok()) return memory.status();
  memory_ = std::move(*memory);
  return memory_.data();
}

Result<std::byte*> DeviceScratch::ensure_zeroed(CudaContext& context, size_t size_bytes,
                                                const char* what) {
  const std::byte* before = memory_.data();
  auto buffer = ensure(context, size_bytes, what);
  if (!buffer.ok() || *buffer == before) return buffer;
  if (!context.check(cudaMemsetAsync(*buffer, 0, memory_.size_bytes(), context.stream()),
                     "cudaMemsetAsync")) {
    return context.take_error();
  }
  return buffer;
}

}  // namespace vcap::tensor::cuda
