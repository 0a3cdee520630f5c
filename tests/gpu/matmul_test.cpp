// CUDA backend: matmul (cuBLASLt, and the gemv kernel for decode rows) against a double
// reference, f32 and bf16 weights, bias, accumulate, strided (unaligned) views, decode and
// model-sized shapes.
#include <gtest/gtest.h>

#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor::testing {
namespace {

class CudaMatmul : public gpu_testing::CudaTest {
 protected:
  // f32 accumulation in any order: a few ulp of the magnitude (no TF32: that would be 1e-3).
  void check_all(Precision precision, const std::vector<MatmulCase>& cases) {
    check_matmul_cases(backend(), precision, cases, 100, 1e-5);
  }
};

TEST_F(CudaMatmul, F32MatchesReferenceAcrossShapes) {
  check_all(Precision::kF32, {{1, 64, 32, false, MatmulAccumulate::kOverwrite},
                              {7, 33, 17, true, MatmulAccumulate::kOverwrite},
                              {19, 128, 96, true, MatmulAccumulate::kAddToOut},
                              {64, 257, 65, false, MatmulAccumulate::kAddToOut},
                              {130, 1280, 200, true, MatmulAccumulate::kOverwrite}});
}

TEST_F(CudaMatmul, Bf16RoundsInputsAndWeightsAndAccumulatesInF32) {
  check_all(Precision::kBF16, {{1, 64, 32, true, MatmulAccumulate::kOverwrite},
                               {9, 95, 33, true, MatmulAccumulate::kAddToOut},
                               {48, 256, 80, false, MatmulAccumulate::kOverwrite},
                               {200, 1280, 384, true, MatmulAccumulate::kAddToOut}});
}

TEST_F(CudaMatmul, DecodeRowsAgainstALongReduction) {
  // One and three rows (batched decode) against the 2B MLP's down projection width.
  check_all(Precision::kBF16, {{1, 8960, 48, false, MatmulAccumulate::kAddToOut},
                               {3, 8960, 40, false, MatmulAccumulate::kOverwrite}});
  check_all(Precision::kF32, {{1, 8960, 48, false, MatmulAccumulate::kAddToOut}});
}

TEST_F(CudaMatmul, Bf16SourceWidensExactlyToF32Weights) {
  const std::vector<uint16_t> w = {0x3f80, 0x4000, 0xbf80, 0x3f00};  // [[1, 2], [-1, 0.5]]
  auto weight =
      backend().prepare_weight(HostMatrix{w.data(), HostDType::kBF16, 2, 2}, Precision::kF32);
  ASSERT_TRUE(weight.ok());
  Tensor in = device_matrix(backend(), {3, 4}, 1, 2);
  auto out = backend().allocate(DType::kF32, 1, 2);
  ASSERT_TRUE(out.ok());
  backend().matmul(out->view(), in.view(), *weight);
  EXPECT_EQ(host_values(backend(), out->view()), (std::vector<float>{11.0f, -1.0f}));
}

TEST_F(CudaMatmul, RepeatedShapesReuseThePlanAndStayCorrect) {
  // The same shape with different row counts and pointers (as prefill chunks and decode steps).
  const int64_t k = 96, n = 40;
  const auto w = random_values(n * k, 7);
  auto weight = backend().prepare_weight(HostMatrix{w.data(), HostDType::kF32, n, k},
                                         Precision::kBF16);
  ASSERT_TRUE(weight.ok());
  for (const int64_t rows : {5, 1, 5, 17, 1}) {
    const auto in = random_values(rows * k, 8 + static_cast<uint32_t>(rows));
    Tensor in_t = device_matrix(backend(), in, rows, k);
    auto out = backend().allocate(DType::kF32, rows, n);
    ASSERT_TRUE(out.ok());
    backend().matmul(out->view(), in_t.view(), *weight);
    const auto want = reference_matmul(in, w, {}, {}, rows, k, n, /*bf16=*/true);
    expect_close(host_values(backend(), out->view()), want.values, 1e-5, &want.scale);
  }
}

TEST_F(CudaMatmul, DecodeBatchesOfUpTo16RowsMatchTheReference) {
  // Up to 16 rows with k % 8 == 0 take the gemv kernel (unstrided; check_matmul's strided views
  // are misaligned and take cuBLASLt): one and two row tiles, partial column tiles, the 2B's
  // projection widths, and k % 8 != 0 (cuBLASLt) beside them.
  check_all(Precision::kBF16, {{8, 1536, 40, true, MatmulAccumulate::kOverwrite},
                               {16, 1536, 48, false, MatmulAccumulate::kAddToOut},
                               {12, 72, 33, true, MatmulAccumulate::kAddToOut},
                               {9, 8960, 20, false, MatmulAccumulate::kOverwrite},
                               {2, 264, 8200, true, MatmulAccumulate::kOverwrite},
                               {16, 100, 20, true, MatmulAccumulate::kOverwrite}});
}

TEST_F(CudaMatmul, DecodeRowsGiveTheSameBitsFromF32AndBf16Inputs) {
  // The gemv kernel rounds an f32 input to the bf16 a bf16 input holds: the same products in the
  // same order.
  const int64_t rows = 11, k = 1536, n = 72;
  const auto w = random_values(n * k, 21);
  auto weight =
      backend().prepare_weight(HostMatrix{w.data(), HostDType::kF32, n, k}, Precision::kBF16);
  ASSERT_TRUE(weight.ok());
  Tensor in = device_matrix(backend(), random_values(rows * k, 22, -3.0f, 3.0f), rows, k);
  auto in_bf16 = backend().allocate(DType::kBF16, rows, k);
  ASSERT_TRUE(in_bf16.ok());
  backend().copy(in_bf16->view(), in.view());
  auto from_f32 = backend().allocate(DType::kF32, rows, n);
  auto from_bf16 = backend().allocate(DType::kF32, rows, n);
  ASSERT_TRUE(from_f32.ok() && from_bf16.ok());
  backend().matmul(from_f32->view(), in.view(), *weight);
  backend().matmul(from_bf16->view(), in_bf16->view(), *weight);
  EXPECT_EQ(host_values(backend(), from_f32->view()), host_values(backend(), from_bf16->view()));
}

}  // namespace
}  // namespace vcap::tensor::testing
