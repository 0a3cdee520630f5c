#include "tensor/backend.h"

#include <new>
#include <string>

#include "base/check.h"

namespace vcap::tensor {

void Backend::upload(TensorView dst, std::span<const float> host) {
  VCAP_CHECK(static_cast<int64_t>(host.size()) == dst.rows * dst.cols,
             "[upload] host span size differs from rows * cols of the destination");
  upload(dst, HostMatrix{host.data(), HostDType::kF32, dst.rows, dst.cols});
}

Result<HostBuffer> Backend::allocate_host(size_t count) {
  float* data = new (std::nothrow) float[count];
  if (data == nullptr) {
    return Status::out_of_memory(name() + ": cannot allocate " + std::to_string(count) +
                                 " host floats");
  }
  return HostBuffer(data, count, [](float* p) { delete[] p; });
}

}  // namespace vcap::tensor
