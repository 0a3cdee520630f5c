#include "tensor/cpu/backend_factory.h"

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cuda/cuda_backend.h"

namespace vcap::tensor {

Result<std::unique_ptr<Backend>> make_backend(const BackendOptions& options) {
  if (options.device == "cpu") return make_cpu_backend({.threads = options.threads});
  if (options.device.rfind("cuda", 0) == 0) return make_cuda_backend(options.device);
  return Status::invalid_argument("unknown device '" + options.device +
                                  "' (expected cpu or cuda:N)");
}

}  // namespace vcap::tensor
