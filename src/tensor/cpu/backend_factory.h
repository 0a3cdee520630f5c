// make_backend: picks and creates the Backend named by a device string.
//
// The factory lives here (in vcap_tensor_cpu) rather than in vcap_tensor because it must create
// the CPU backend, and vcap_tensor_cpu already depends on vcap_tensor. It creates GPU backends
// through tensor/cuda/cuda_backend.h (vcap_tensor_cuda), which a build without CUDA implements
// with a stand-in that reports kUnsupported, so the code above it has no #ifdef (the MLX no_gpu
// pattern).
#ifndef VCAP_TENSOR_CPU_BACKEND_FACTORY_H_
#define VCAP_TENSOR_CPU_BACKEND_FACTORY_H_

#include <memory>
#include <string>

#include "base/status.h"
#include "tensor/backend.h"

namespace vcap::tensor {

struct BackendOptions {
  // "cpu", or "cuda" / "cuda:N" (GPU N). Default: the CPU.
  std::string device = "cpu";
  // Worker threads for the CPU backend (OpenMP, shared with oneDNN); 0 = all cores.
  int threads = 0;
};

// "cuda" / "cuda:N" go to make_cuda_backend (tensor/cuda/cuda_backend.h), whose errors they
// return: kUnsupported when this build has no CUDA backend ("this vcap build has no CUDA
// backend (built without nvcc: ...)") or no GPU, kInvalidArgument for "no CUDA device N (found K)".
// kInvalidArgument for an unknown device string or threads < 0.
Result<std::unique_ptr<Backend>> make_backend(const BackendOptions& options);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CPU_BACKEND_FACTORY_H_
