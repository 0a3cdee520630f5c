// layer_norm and rms_norm against a double-precision reference.
#include <gtest/gtest.h>

#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;

class NormTest : public ::testing::TestWithParam<KernelPath> {};

TEST_P(NormTest, LayerNormMatchesReference) {
  auto backend = testing::make_test_backend(GetParam());
  for (const int64_t cols : {1, 7, 16, 1280, 1283}) {
    SCOPED_TRACE(cols);
    const int64_t rows = 5;
    // An offset mean makes a one-pass variance lose digits; the kernel must not.
    const auto in = testing::random_values(rows * cols, 30, 2.0f, 4.0f);
    const auto w = testing::random_values(cols, 31);
    const auto b = testing::random_values(cols, 32);
    Tensor in_t = testing::device_matrix(*backend, in, rows, cols);
    Tensor w_t = testing::device_matrix(*backend, w, 1, cols);
    Tensor b_t = testing::device_matrix(*backend, b, 1, cols);
    auto out = backend->allocate(DType::kF32, rows, cols);
    ASSERT_TRUE(out.ok());
    backend->layer_norm(out->view(), in_t.view(), w_t.view(), b_t.view(), 1e-6f);
    const auto want = testing::reference_layer_norm(in, w, b, rows, cols, 1e-6);
    testing::expect_close(testing::host_values(*backend, out->view()), want,
                          cols == 1 ? 1e-4 : 1e-5);
  }
}

TEST_P(NormTest, RmsNormMatchesReferenceInPlaceOnAStridedView) {
  auto backend = testing::make_test_backend(GetParam());
  const int64_t rows = 3, cols = 1536, stride = 1540;
  const auto in = testing::random_values(rows * stride, 33, -3.0f, 3.0f);
  const auto w = testing::random_values(cols, 34);
  Tensor in_t = testing::device_matrix(*backend, in, rows, stride);
  Tensor w_t = testing::device_matrix(*backend, w, 1, cols);
  const TensorView x = in_t.view().cols_slice(2, cols);
  backend->rms_norm(x, x, w_t.view(), 1e-6f);
  const auto want = testing::reference_rms_norm(testing::host_columns(in, rows, stride, 2, cols), w,
                                                rows, cols, 1e-6);
  testing::expect_close(testing::host_values(*backend, x), want, 1e-5);
  const auto all = testing::host_values(*backend, in_t.view());
  EXPECT_EQ(all[0], in[0]);  // columns outside the view are untouched
  EXPECT_EQ(all[stride - 1], in[stride - 1]);
}

INSTANTIATE_TEST_SUITE_P(Paths, NormTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
