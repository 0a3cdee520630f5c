// The backend factory (tensor/cpu/backend_factory.h) in a build with CUDA: "cuda:N" reaches the
// CUDA backend. Not built by the GPU check (it has no CPU backend); runs without a GPU too.
#include <gtest/gtest.h>

#include <string>

#include "tensor/cpu/backend_factory.h"
#include "tensor/cuda/cuda_backend.h"

namespace vcap::tensor {
namespace {

TEST(MakeBackendWithCuda, CudaDevicesReachTheCudaBackend) {
  auto backend = make_backend({.device = "cuda:0"});
  if (cuda_device_count() == 0) {
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(backend.status().message().rfind("no CUDA device 0 (found 0", 0), 0u)
        << backend.status().message();
    return;
  }
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_EQ((*backend)->name(), "cuda:0");
}

TEST(MakeBackendWithCuda, MalformedCudaDevicesAreInvalid) {
  EXPECT_EQ(make_backend({.device = "cuda:zero"}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vcap::tensor
