// tensor/cuda/cuda_backend.h for builds without CUDA (VCAP_CUDA=OFF, or no nvcc found): every
// request for a GPU says clearly that this build cannot serve it.
#include "tensor/cuda/cuda_backend.h"

namespace vcap::tensor {
namespace {

constexpr const char* kNoCuda =
    "this vcap build has no CUDA backend (built without nvcc: install the CUDA toolkit and rerun "
    "scripts/build.sh)";

}  // namespace

bool cuda_backend_compiled() { return false; }

int cuda_device_count() { return 0; }

std::string cuda_device_summary() { return kNoCuda; }

Result<std::unique_ptr<Backend>> make_cuda_backend(const CudaBackendOptions&) {
  return Status::unsupported(kNoCuda);
}

Result<std::unique_ptr<Backend>> make_cuda_backend(std::string_view) {
  return Status::unsupported(kNoCuda);
}

std::string cuda_profile_report(Backend&, bool) { return ""; }

}  // namespace vcap::tensor
