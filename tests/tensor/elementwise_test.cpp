// activation, silu_mul, add and rotary against double-precision references, and the bf16
// outputs of the ops that feed bf16 matmuls.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;
using testing::reference_activation;

class ElementwiseTest : public ::testing::TestWithParam<KernelPath> {};

TEST_P(ElementwiseTest, ActivationsMatchReferenceIncludingTails) {
  auto backend = testing::make_test_backend(GetParam());
  for (const Activation kind : {Activation::kGeluErf, Activation::kQuickGelu, Activation::kSilu}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const int64_t rows = 3, cols = 37;
    auto in = testing::random_values(rows * cols, 40, -12.0f, 12.0f);
    in[0] = -120.0f;  // exp overflow side
    in[1] = 95.0f;    // exp underflow side
    in[2] = 0.0f;
    Tensor x = testing::device_matrix(*backend, in, rows, cols);
    Tensor y = testing::device_matrix(*backend, std::vector<float>(in.size()), rows, cols);
    backend->activation(y.view(), x.view(), kind);
    backend->activation(x.view(), x.view(), kind);  // in place
    std::vector<double> want(in.size());
    for (size_t i = 0; i < in.size(); ++i) want[i] = reference_activation(in[i], kind);
    testing::expect_close(testing::host_values(*backend, y.view()), want, 1e-6);
    testing::expect_close(testing::host_values(*backend, x.view()), want, 1e-6);
  }
}

TEST_P(ElementwiseTest, SiluMulOnColumnSlicesOfAFusedMatrix) {
  auto backend = testing::make_test_backend(GetParam());
  const int64_t rows = 4, cols = 21;
  const auto fused = testing::random_values(rows * 2 * cols, 41, -8.0f, 8.0f);
  Tensor gate_up = testing::device_matrix(*backend, fused, rows, 2 * cols);
  auto out = backend->allocate(DType::kF32, rows, cols);
  ASSERT_TRUE(out.ok());
  backend->silu_mul(out->view(), gate_up.view().cols_slice(0, cols),
                    gate_up.view().cols_slice(cols, cols));
  std::vector<double> want(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      want[r * cols + c] = reference_activation(fused[r * 2 * cols + c], Activation::kSilu) *
                           fused[r * 2 * cols + cols + c];
    }
  }
  testing::expect_close(testing::host_values(*backend, out->view()), want, 1e-6);
}

TEST_P(ElementwiseTest, Bf16MatmulInputsAreTheRoundedF32Results) {
  auto backend = testing::make_test_backend(GetParam());
  testing::check_bf16_matmul_inputs(*backend);
}

TEST_P(ElementwiseTest, AddIsExact) {
  auto backend = testing::make_test_backend(GetParam());
  const auto a = testing::random_values(2 * 9, 42);
  const auto b = testing::random_values(2 * 9, 43);
  Tensor x = testing::device_matrix(*backend, a, 2, 9);
  Tensor y = testing::device_matrix(*backend, b, 2, 9);
  backend->add(x.view(), y.view());
  const auto got = testing::host_values(*backend, x.view());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(got[i], a[i] + b[i]);
}

TEST_P(ElementwiseTest, RotaryRotatesPairsOfEachHeadInPlace) {
  auto backend = testing::make_test_backend(GetParam());
  const int64_t rows = 5;
  const int heads = 3, dim = 80, half = dim / 2, width = heads * dim, offset = 7;
  const auto values = testing::random_values(rows * (width + offset), 44);
  const auto angles = testing::random_values(rows * half, 45, -30.0f, 30.0f);
  std::vector<float> cos(angles.size()), sin(angles.size());
  for (size_t i = 0; i < angles.size(); ++i)
    cos[i] = std::cos(angles[i]), sin[i] = std::sin(angles[i]);
  Tensor x = testing::device_matrix(*backend, values, rows, width + offset);
  Tensor cos_t = testing::device_matrix(*backend, cos, rows, half);
  Tensor sin_t = testing::device_matrix(*backend, sin, rows, half);
  const TensorView view = x.view().cols_slice(offset, width);
  backend->rotary(view, cos_t.view(), sin_t.view(), heads, dim);
  const auto x_values = testing::host_columns(values, rows, width + offset, offset, width);
  const auto want = testing::reference_rotary(x_values, cos, sin, rows, heads, dim);
  testing::expect_close(testing::host_values(*backend, view), want, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Paths, ElementwiseTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
