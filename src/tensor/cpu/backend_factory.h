// make_backend: picks and creates the Backend named by a device string.
//
// The factory lives here (in vcap_tensor_cpu) rather than in vcap_tensor because it must create
// the CPU backend, and vcap_tensor_cpu already depends on vcap_tensor. When a CUDA backend
// exists, the factory moves to a small module above both backends. Until then a "cuda" device
// is reported as unsupported, so the code above it has no #ifdef (the MLX no_gpu pattern).
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

// Errors: kUnsupported for "cuda..." ("this vcap build has no CUDA backend (built without
// nvcc)"); kInvalidArgument for an unknown device string or threads < 0.
Result<std::unique_ptr<Backend>> make_backend(const BackendOptions& options);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CPU_BACKEND_FACTORY_H_
