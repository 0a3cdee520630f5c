// Backend::matmul against a double-precision reference, f32 and bf16 weights.
#include <gtest/gtest.h>

#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;
using testing::MatmulCase;

// f32 accumulation in oneDNN's order: within a few ulp of the magnitude of the products.
void check_cases(KernelPath path, Precision precision, const std::vector<MatmulCase>& cases) {
  auto backend = testing::make_test_backend(path);
  testing::check_matmul_cases(*backend, precision, cases, 10, 2e-6);
}

class MatmulTest : public ::testing::TestWithParam<KernelPath> {};

TEST_P(MatmulTest, F32MatchesReferenceAcrossShapes) {
  check_cases(GetParam(), Precision::kF32,
              {{1, 64, 32, false, MatmulAccumulate::kOverwrite},
               {7, 33, 17, true, MatmulAccumulate::kOverwrite},
               {19, 128, 96, true, MatmulAccumulate::kAddToOut},
               {64, 257, 65, false, MatmulAccumulate::kAddToOut}});
}

TEST_P(MatmulTest, Bf16RoundsInputsAndWeightsAndAccumulatesInF32) {
  check_cases(GetParam(), Precision::kBF16,
              {{1, 64, 32, true, MatmulAccumulate::kOverwrite},
               {9, 95, 33, true, MatmulAccumulate::kAddToOut},
               {48, 256, 80, false, MatmulAccumulate::kOverwrite}});
}

// Up to 8 rows take the few-row kernel (gemv_bf16.h) where the CPU has AVX512-BF16: every row
// count, its two register layouts (<= 4 rows: 64 columns at once; 5-8: two halves), partial
// column blocks (N % 64), a partial block of input features (K % 32) and odd K (oneDNN instead).
TEST_P(MatmulTest, Bf16FewRowsMatchReferenceForEveryRowCount) {
  std::vector<MatmulCase> cases;
  for (int64_t rows = 1; rows <= 9; ++rows) {
    cases.push_back({rows, 96, 200, rows % 2 == 1, MatmulAccumulate::kOverwrite});
    cases.push_back({rows, 40, 16, rows % 3 == 0, MatmulAccumulate::kAddToOut});
  }
  cases.push_back({3, 95, 70, true, MatmulAccumulate::kAddToOut});
  check_cases(GetParam(), Precision::kBF16, cases);
}

TEST_P(MatmulTest, Bf16StaysCloseToTheF32Product) {
  auto backend = testing::make_test_backend(GetParam());
  const int64_t rows = 5, k = 200, n = 24;
  const auto in = testing::random_values(rows * k, 20);
  const auto w = testing::random_values(n * k, 21);
  Tensor in_t = testing::device_matrix(*backend, in, rows, k);
  auto out = backend->allocate(DType::kF32, rows, n);
  auto weight =
      backend->prepare_weight(HostMatrix{w.data(), HostDType::kF32, n, k}, Precision::kBF16);
  ASSERT_TRUE(out.ok() && weight.ok());
  backend->matmul(out->view(), in_t.view(), *weight);
  const auto want = testing::reference_matmul(in, w, {}, {}, rows, k, n, /*bf16=*/false);
  // Two bf16 roundings (2^-9 relative each) per product.
  testing::expect_close(testing::host_values(*backend, out->view()), want.values, 1e-2,
                        &want.scale);
}

TEST_P(MatmulTest, Bf16SourceWidensExactlyToF32Weights) {
  auto backend = testing::make_test_backend(GetParam());
  const std::vector<uint16_t> w = {0x3f80, 0x4000, 0xbf80, 0x3f00};  // [[1, 2], [-1, 0.5]]
  auto weight =
      backend->prepare_weight(HostMatrix{w.data(), HostDType::kBF16, 2, 2}, Precision::kF32);
  ASSERT_TRUE(weight.ok());
  Tensor in = testing::device_matrix(*backend, {3, 4}, 1, 2);
  auto out = backend->allocate(DType::kF32, 1, 2);
  ASSERT_TRUE(out.ok());
  backend->matmul(out->view(), in.view(), *weight);
  EXPECT_EQ(testing::host_values(*backend, out->view()), (std::vector<float>{11.0f, -1.0f}));
}

TEST(MatmulDeathTest, MismatchedShapesAbortWithTheShapes) {
  auto backend = testing::make_test_backend(KernelPath::kAvx512);
  const std::vector<float> w(4 * 3, 1.0f);
  auto weight =
      backend->prepare_weight(HostMatrix{w.data(), HostDType::kF32, 4, 3}, Precision::kF32);
  auto in = backend->allocate(DType::kF32, 2, 5);
  auto out = backend->allocate(DType::kF32, 2, 4);
  ASSERT_TRUE(weight.ok() && in.ok() && out.ok());
  EXPECT_DEATH(backend->matmul(out->view(), in->view(), *weight),
               "\\[matmul\\] shapes differ: out \\[2,4\\] in \\[2,5\\] W \\[4,3\\]");
}

INSTANTIATE_TEST_SUITE_P(Paths, MatmulTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
