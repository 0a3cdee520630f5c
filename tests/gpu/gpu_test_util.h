// Helpers for the GPU tests: a fixture holding a CUDA backend (or skipping the test, with the
// reason, when no GPU is usable), random data, host <-> device matrices and a tolerance check
// in the manner of ggml's test-backend-ops (per op and dtype, against a double reference).
#ifndef VCAP_TESTS_GPU_GPU_TEST_UTIL_H_
#define VCAP_TESTS_GPU_GPU_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tensor/backend.h"
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

inline std::vector<float> random_values(size_t count, uint32_t seed, float low = -1.0f,
                                        float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// A device f32 tensor [rows, cols] holding `values` (row-major).
inline Tensor device_matrix(Backend& backend, const std::vector<float>& values, int64_t rows,
                            int64_t cols) {
  auto tensor = backend.allocate(DType::kF32, rows, cols);
  EXPECT_TRUE(tensor.ok()) << tensor.status().to_string();
  if (!tensor.ok()) return Tensor();
  backend.upload(tensor->view(), std::span<const float>(values));
  return std::move(*tensor);
}

// The view's contents as row-major f32 (strided views too).
inline std::vector<float> host_values(Backend& backend, TensorView view) {
  std::vector<float> values(static_cast<size_t>(view.rows * view.cols));
  backend.download(view, values);
  return values;
}

inline double round_bf16(double value) {
  return bf16_to_f32(f32_to_bf16(static_cast<float>(value)));
}

// Asserts |actual - expected| <= tolerance * scale elementwise, scale = max(1, |expected|) by
// default (relative for large values, absolute for small ones). NaN never passes.
inline void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                         double tolerance, const std::vector<double>* scale = nullptr) {
  ASSERT_EQ(actual.size(), expected.size());
  double worst = 0.0;
  size_t worst_index = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double s = scale ? (*scale)[i] : std::max(1.0, std::abs(expected[i]));
    const double error = std::abs(actual[i] - expected[i]) / s;
    if (!(error <= worst)) {  // NaN included
      worst = error;
      worst_index = i;
    }
  }
  EXPECT_LE(worst, tolerance) << "at element " << worst_index << " of " << actual.size()
                              << ": got " << actual[worst_index] << ", want "
                              << expected[worst_index];
}

// `values` (row-major [rows, cols]) placed in columns [pad, pad + cols) of a [rows, cols + pad]
// matrix whose other columns hold `fill`: the host image of a strided column slice.
inline std::vector<float> padded(const std::vector<float>& values, int64_t rows, int64_t cols,
                                 int64_t pad, float fill) {
  std::vector<float> wide(static_cast<size_t>(rows * (cols + pad)), fill);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(values.begin() + r * cols, cols, wide.begin() + r * (cols + pad) + pad);
  }
  return wide;
}

}  // namespace vcap::tensor::gpu_testing

#endif  // VCAP_TESTS_GPU_GPU_TEST_UTIL_H_
