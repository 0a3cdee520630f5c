// CUDA backend made with CudaBackendOptions::profile (tensor/cuda/op_profile.h): the report
// counts every op by kind with its GPU and host time, gives the GPU's busy share, and starts over
// when asked; a backend without the option has no report.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor::testing {
namespace {

TEST(CudaOpProfile, CountsEachOpKindAndStartsOverWhenAsked) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary();
  auto backend = make_cuda_backend(CudaBackendOptions{0, true});
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  Backend& b = **backend;
  Tensor x = device_matrix(b, random_values(4 * 64, 1), 4, 64);
  Tensor w = device_matrix(b, std::vector<float>(64, 1.0f), 1, 64);
  for (int i = 0; i < 3; ++i) b.rms_norm(x.view(), x.view(), w.view(), 1e-6f);
  for (int i = 0; i < 2; ++i) b.add(x.view(), x.view());
  const std::string report = cuda_profile_report(b, /*restart=*/true);
  EXPECT_NE(report.find("| rms_norm | 3 |"), std::string::npos) << report;
  EXPECT_NE(report.find("| add | 2 |"), std::string::npos) << report;
  EXPECT_NE(report.find("| upload | 2 |"), std::string::npos) << report;
  EXPECT_NE(report.find("GPU busy:"), std::string::npos) << report;
  EXPECT_NE(report.find("| host us per call |"), std::string::npos) << report;

  b.add(x.view(), x.view());
  const std::string again = cuda_profile_report(b);
  EXPECT_EQ(again.find("rms_norm"), std::string::npos) << again;
  EXPECT_NE(again.find("| add | 1 |"), std::string::npos) << again;
  EXPECT_TRUE(b.synchronize().ok());
}

TEST(CudaOpProfile, ABackendWithoutTheOptionHasNoReport) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary();
  auto backend = make_cuda_backend(CudaBackendOptions{0});
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_EQ(cuda_profile_report(**backend), "");
}

}  // namespace
}  // namespace vcap::tensor::testing
