// Helpers for the CPU backend's tests: backends for both kernel paths. The helpers for any
// backend (random data, host <-> device matrices, tolerance checks, the shared op checks) are
// in backend_test_util.h, the double references in reference_ops.h.
#ifndef VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_
#define VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backend_test_util.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"

namespace vcap::tensor::testing {

// Which CPU kernels a parameterised test runs: the AVX-512 ones (when the CPU has them), the
// portable ones with the AVX2 attention (when the CPU has AVX2), or the portable ones only.
enum class KernelPath { kAvx512, kAvx2, kPortable };

inline std::string path_name(const ::testing::TestParamInfo<KernelPath>& info) {
  return info.param == KernelPath::kAvx512 ? "Avx512"
         : info.param == KernelPath::kAvx2 ? "Avx2"
                                           : "Portable";
}

inline std::unique_ptr<Backend> make_test_backend(KernelPath path, int threads = 2) {
  auto backend = make_cpu_backend({.threads = threads,
                                   .use_avx512 = path == KernelPath::kAvx512,
                                   .use_avx2 = path == KernelPath::kAvx2});
  EXPECT_TRUE(backend.ok()) << backend.status().to_string();
  return std::move(*backend);
}

}  // namespace vcap::tensor::testing

#endif  // VCAP_TESTS_TENSOR_TENSOR_TEST_UTIL_H_
