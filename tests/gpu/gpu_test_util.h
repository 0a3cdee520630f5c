// Helpers for the GPU tests: a fixture holding a CUDA backend (or skipping the test, with the
// reason, when no GPU is usable) and the test data folder. The helpers for any backend (random
// data, host <-> device matrices, tolerance checks, the op checks the CPU tests run too) are in
// tensor/backend_test_util.h, the double references in tensor/reference_ops.h.
#ifndef VCAP_TESTS_GPU_GPU_TEST_UTIL_H_
#define VCAP_TESTS_GPU_GPU_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "tensor/backend.h"
#include "tensor/backend_test_util.h"
#include "tensor/cuda/cuda_backend.h"

namespace vcap::tensor::gpu_testing {

// tests/data, or $VCAP_TEST_DATA_DIR when set (a binary run from another checkout).
inline std::filesystem::path test_data_dir() {
  const char* env = std::getenv("VCAP_TEST_DATA_DIR");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                        : std::filesystem::path(VCAP_TEST_DATA_DIR);
}

// A test with a CUDA backend on device 0. Skipped, with the reason, when none is usable; every
// test ends by checking that the device reported no error.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary();
    auto backend = make_cuda_backend(CudaBackendOptions{0});
    ASSERT_TRUE(backend.ok()) << backend.status().to_string();
    backend_ = std::move(*backend);
  }
  void TearDown() override {
    if (backend_) {
      const Status s = backend_->synchronize();
      EXPECT_TRUE(s.ok()) << s.to_string();
    }
  }
  Backend& backend() { return *backend_; }

  std::unique_ptr<Backend> backend_;
};

}  // namespace vcap::tensor::gpu_testing

#endif  // VCAP_TESTS_GPU_GPU_TEST_UTIL_H_
