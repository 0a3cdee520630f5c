// Helpers for the tensor tests: backends for both kernel paths, random data, and moving
// matrices between the host (std::vector<float>, row-major) and the device.
#ifndef VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_
#define VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"

namespace vcap::tensor::testing {

// Which CPU kernels a parameterised test runs: the AVX-512 ones (when the CPU has them) or the
// portable ones.
enum class KernelPath { kAvx512, kPortable };

inline std::string path_name(const ::testing::TestParamInfo<KernelPath>& info) {
  return info.param == KernelPath::kAvx512 ? "Avx512" : "Portable";
}

inline std::unique_ptr<Backend> make_test_backend(KernelPath path, int threads = 2) {
  auto backend = make_cpu_backend({.threads = threads, .use_avx512 = path == KernelPath::kAvx512});
  EXPECT_TRUE(backend.ok()) << backend.status().to_string();
  return std::move(*backend);
}

inline std::vector<float> random_values(size_t count, uint32_t seed, float low = -1.0f,
                                        float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// A device f32 tensor holding `values` ([rows, cols] row-major).
inline Tensor device_matrix(Backend& backend, const std::vector<float>& values, int64_t rows,
                            int64_t cols) {
  auto tensor = backend.allocate(DType::kF32, rows, cols);
  EXPECT_TRUE(tensor.ok()) << tensor.status().to_string();
  backend.upload(tensor->view(), std::span<const float>(values));
  return std::move(*tensor);
}

// The view's contents as row-major f32 (works for strided views).
inline std::vector<float> host_values(Backend& backend, TensorView view) {
  std::vector<float> values(static_cast<size_t>(view.rows * view.cols));
  backend.download(view, values);
  return values;
}

inline double round_bf16(double value) {
  return bf16_to_f32(f32_to_bf16(static_cast<float>(value)));
}

// Asserts |actual - expected| <= tolerance * scale elementwise (scale defaults to
// max(1, |expected|), i.e. relative error for large values, absolute for small ones).
inline void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                         double tolerance, const std::vector<double>* scale = nullptr) {
  ASSERT_EQ(actual.size(), expected.size());
  double worst = 0.0;
  size_t worst_index = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double s = scale ? (*scale)[i] : std::max(1.0, std::abs(expected[i]));
    const double error = std::abs(actual[i] - expected[i]) / s;
    if (!(error <= worst)) {
      worst = error;
      worst_index = i;
    }
  }
  EXPECT_LE(worst, tolerance) << "at element " << worst_index << ": got " << actual[worst_index]
                              << ", want " << expected[worst_index];
}

}  // namespace vcap::tensor::testing

#endif  // VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_
