// The CPU backend: oneDNN matmul plus our own kernels (AVX-512 when the CPU has it, portable
// scalar code otherwise, but for an AVX2 attention), all threaded with OpenMP (the runtime
// Debian's oneDNN uses).
#ifndef VCAP_TENSOR_CPU_CPU_BACKEND_H_
#define VCAP_TENSOR_CPU_CPU_BACKEND_H_

#include <memory>

#include "base/status.h"
#include "tensor/backend.h"

namespace vcap::tensor {

struct CpuBackendOptions {
  int threads = 0;         // OpenMP threads; 0 = every core this process may use
  bool use_avx512 = true;  // false forces the portable kernels (tests compare the paths)...
  bool use_avx2 = true;    // ...or, with use_avx512 false, the AVX2 attention where the CPU has it
};

// Errors: kInvalidArgument for threads < 0.
Result<std::unique_ptr<Backend>> make_cpu_backend(const CpuBackendOptions& options);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CPU_CPU_BACKEND_H_
