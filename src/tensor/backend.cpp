#include "tensor/backend.h"

#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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

void Backend::parallel_for_host(int64_t count, const std::function<void(int64_t)>& body) {
  std::vector<std::thread> helpers;
  try {
    for (int64_t i = 1; i < count; ++i) helpers.emplace_back([&body, i] { body(i); });
  } catch (const std::system_error&) {
    // No thread to be had: the indices without a helper run here.
  }
  for (auto i = static_cast<int64_t>(helpers.size()) + 1; i < count; ++i) body(i);
  if (count > 0) body(0);
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace vcap::tensor
