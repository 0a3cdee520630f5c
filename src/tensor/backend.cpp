#include "tensor/backend.h"

#include "base/check.h"

namespace vcap::tensor {

void Backend::upload(TensorView dst, std::span<const float> host) {
  VCAP_CHECK(static_cast<int64_t>(host.size()) == dst.rows * dst.cols,
             "[upload] host span size differs from rows * cols of the destination");
  upload(dst, HostMatrix{host.data(), HostDType::kF32, dst.rows, dst.cols});
}

}  // namespace vcap::tensor
