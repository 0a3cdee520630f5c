// The CUDA backend: the Backend interface (tensor/backend.h) on one NVIDIA GPU.
//
// cuBLASLt runs the matmuls (bf16 x bf16 or f32 x f32, f32 accumulation, no TF32); our own
// kernels run the rest (norms, rotary, attention, elementwise, conversions). All work of a
// backend is ordered on one CUDA stream that it owns; ops return before the GPU has run them,
// and device errors surface at the next synchronize() (see backend.h).
//
// This header is implemented twice: by the real backend when the build has CUDA (VCAP_CUDA,
// nvcc found), and otherwise by a stand-in whose make functions return kUnsupported. Callers
// (the backend factory, tests, benchmarks) therefore need no #ifdef.
//
// Memory: tensors come from a stream-ordered pool of device memory owned by the backend
// (plain device memory, never managed memory); freeing one is ordered after the ops queued
// before it. Every Tensor and Weight made by a backend must be destroyed before the backend.
// Thread safety: one thread at a time per backend (as Backend). Use one backend per GPU; a
// process may hold several (one per device), each keeps its own stream.
#ifndef VCAP_TENSOR_CUDA_CUDA_BACKEND_H_
#define VCAP_TENSOR_CUDA_CUDA_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tensor/backend.h"

namespace vcap::tensor {

struct CudaBackendOptions {
  int device = 0;        // CUDA device index, as cudaSetDevice counts them
  bool profile = false;  // time every op on the GPU (op_profile.h; benchmarks)
};

// True when this build has the CUDA backend (nvcc was found at configure time).
bool cuda_backend_compiled();

// Number of CUDA devices this process can use: 0 when the build has no CUDA backend, no driver
// is installed or no GPU is visible. Never fails.
int cuda_device_count();

// One line saying why cuda_device_count() is 0 ("this vcap build has no CUDA backend (built
// without nvcc)", "cudaGetDeviceCount: CUDA driver version is insufficient ...", "no GPU
// visible"), or the names of the devices found ("1 device: NVIDIA H100 80GB HBM3"). For logs
// and for the message of skipped GPU tests.
std::string cuda_device_summary();

// A backend on GPU `options.device`. Errors: kUnsupported when the build has no CUDA backend
// ("this vcap build has no CUDA backend (built without nvcc: ...)") or no GPU is usable ("no CUDA
// device 0 (found 0: <reason>)"); kInvalidArgument for an index outside [0, count) ("no CUDA
// device 3 (found 2)"); kOutOfMemory / kInternal when the stream, the cuBLASLt handle or the
// workspace cannot be created.
Result<std::unique_ptr<Backend>> make_cuda_backend(const CudaBackendOptions& options);

// The same for a device string: "cuda" (device 0) or "cuda:N". kInvalidArgument for anything
// else ("cuda:", "cuda:x", "cuda:-1", "cuda0").
Result<std::unique_ptr<Backend>> make_cuda_backend(std::string_view device);

// For a backend made with `profile`: per op kind, the calls and GPU time since it was made (or
// since the last restart), and the share of that span the GPU was busy, as a markdown table
// (it synchronizes first). `restart`: then begin a new profile (after a warm-up, say). Empty
// for any other backend.
std::string cuda_profile_report(Backend& backend, bool restart = false);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CUDA_CUDA_BACKEND_H_
