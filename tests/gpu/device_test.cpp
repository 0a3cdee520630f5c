// Device strings and device discovery of the CUDA backend. These run without a GPU too: they
// check the errors a machine without one (or with fewer) gives.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <string>

#include "tensor/cuda/cuda_backend.h"

namespace vcap::tensor {
namespace {

TEST(CudaDevices, ThisBuildHasTheBackend) {
  EXPECT_TRUE(cuda_backend_compiled());
  EXPECT_FALSE(cuda_device_summary().empty());
  std::printf("[cuda] %d device(s): %s\n", cuda_device_count(), cuda_device_summary().c_str());
}

TEST(CudaDevices, MalformedDeviceStringsAreInvalid) {
  for (const char* device : {"cuda:", "cuda:x", "cuda:-1", "cuda0", "cuda:1x", "gpu:0",
                             "cuda:12345678"}) {
    auto backend = make_cuda_backend(device);
    ASSERT_FALSE(backend.ok()) << device;
    EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument) << device;
    EXPECT_NE(backend.status().message().find("expected cuda or cuda:N"), std::string::npos)
        << backend.status().message();
  }
}

TEST(CudaDevices, AnIndexBeyondTheDevicesSaysHowManyThereAre) {
  const int count = cuda_device_count();
  auto backend = make_cuda_backend("cuda:" + std::to_string(count));
  ASSERT_FALSE(backend.ok());
  const std::string want = "no CUDA device " + std::to_string(count) + " (found " +
                           std::to_string(count);
  EXPECT_EQ(backend.status().message().rfind(want, 0), 0u) << backend.status().message();
  EXPECT_EQ(backend.status().code(),
            count == 0 ? StatusCode::kUnsupported : StatusCode::kInvalidArgument);
}

// Without any NVIDIA driver the runtime says the driver is "insufficient", as for an old one:
// the message tells the two apart. Only a machine without a driver can check the first.
TEST(CudaDevices, AMachineWithoutADriverIsToldSo) {
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver != 0)
    GTEST_SKIP() << "an NVIDIA driver is loaded here";
  EXPECT_EQ(cuda_device_summary(), "no NVIDIA driver is loaded on this machine");
  auto backend = make_cuda_backend("cuda:0");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().message(),
            "no CUDA device 0 (found 0: no NVIDIA driver is loaded on this machine)");
}

TEST(CudaDevices, CudaMeansDeviceZero) {
  auto backend = make_cuda_backend("cuda");
  if (cuda_device_count() == 0) {
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().message().rfind("no CUDA device 0 (found 0", 0), 0u)
        << backend.status().message();
    return;
  }
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_EQ((*backend)->name(), "cuda:0");
  EXPECT_TRUE((*backend)->synchronize().ok());
}

}  // namespace
}  // namespace vcap::tensor
