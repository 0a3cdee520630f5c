// Device discovery and device strings for tensor/cuda/cuda_backend.h.
#include <cuda_runtime_api.h>

#include <string>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_context.h"

namespace vcap::tensor {
namespace {

// The device count, or the error of cudaGetDeviceCount (cleared, so later calls do not see it).
cudaError_t query_device_count(int& count) {
  count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    count = 0;
  }
  return error;
}

// Why cudaGetDeviceCount failed, in the user's terms: the runtime reports a machine without
// any NVIDIA driver as one whose driver is too old.
std::string count_error_text(cudaError_t error) {
  if (error == cudaErrorInsufficientDriver) {
    int driver = 0;
    int runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cudaGetLastError();
    const auto version = [](int v) {
      return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
    };
    if (driver == 0) return "no NVIDIA driver is loaded on this machine";
    return "the NVIDIA driver (for CUDA " + version(driver) +
           ") is older than the CUDA runtime vcap was built with (" + version(runtime) +
           "): update the driver";
  }
  return "cudaGetDeviceCount: " + cuda::cuda_error_text(error);
}

}  // namespace

bool cuda_backend_compiled() { return true; }

int cuda_device_count() {
  int count = 0;
  query_device_count(count);
  return count;
}

std::string cuda_device_summary() {
  int count = 0;
  const cudaError_t error = query_device_count(count);
  if (error != cudaSuccess) return count_error_text(error);
  if (count == 0) return "no GPU visible";
  std::string text = std::to_string(count) + (count == 1 ? " device:" : " devices:");
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    text += i == 0 ? " " : ", ";
    text += props.name;
    text += " (sm_" + std::to_string(props.major) + std::to_string(props.minor) + ")";
  }
  return text;
}

Result<std::unique_ptr<Backend>> make_cuda_backend(std::string_view device) {
  const std::string text(device);
  const Status bad = Status::invalid_argument("unknown device '" + text +
                                              "' (expected cuda or cuda:N)");
  if (device == "cuda") return make_cuda_backend(CudaBackendOptions{0});
  if (device.substr(0, 5) != "cuda:") return bad;
  const std::string_view digits = device.substr(5);
  if (digits.empty() || digits.size() > 6) return bad;
  int index = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return bad;
    index = index * 10 + (c - '0');
  }
  return make_cuda_backend(CudaBackendOptions{index});
}

namespace cuda {

Status check_device(int device) {
  int count = 0;
  const cudaError_t error = query_device_count(count);
  const std::string what = "no CUDA device " + std::to_string(device) + " (found ";
  if (error != cudaSuccess) {
    return Status::unsupported(what + "0: " + count_error_text(error) + ")");
  }
  if (count == 0) return Status::unsupported(what + "0)");
  if (device < 0 || device >= count) {
    return Status::invalid_argument(what + std::to_string(count) + ")");
  }
  // bf16 GEMMs and the tensor-core attention (mma.sync bf16) need Ampere or newer; say so here
  // rather than fail at the first kernel launch.
  int major = 0;
  int minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    cudaGetLastError();
    return Status::unsupported("CUDA device " + std::to_string(device) +
                               ": cannot read its compute capability");
  }
  if (major < 8) {
    return Status::unsupported("CUDA device " + std::to_string(device) + " is sm_" +
                               std::to_string(major) + std::to_string(minor) +
                               "; vcap's CUDA backend needs compute capability 8.0 (A100, "
                               "H100, RTX 30xx) or newer");
  }
  return Status();
}

}  // namespace cuda
}  // namespace vcap::tensor
