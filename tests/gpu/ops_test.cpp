// CUDA backend: norms, rotary and the elementwise ops against double references, on strided
// views and with the aliasing the contract allows (out == in).
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "gpu_test_util.h"
#include "tensor/cuda/score_kernels.h"
#include "tensor/score_cases.h"

namespace vcap::tensor::testing {
namespace {

class CudaOps : public gpu_testing::CudaTest {};

// Row widths around the block size (256 threads), below a warp and odd; a large mean offset
// checks the two-pass variance.
TEST_F(CudaOps, LayerNormMatchesReferenceInPlaceAndStrided) {
  for (const int64_t cols : {1, 37, 256, 1280, 1283}) {
    SCOPED_TRACE(cols);
    const int64_t rows = 9;
    const auto x = random_values(rows * cols, 10, 95.0f, 105.0f);
    const auto w = random_values(cols, 11);
    const auto b = random_values(cols, 12);
    Tensor w_t = device_matrix(backend(), w, 1, cols);
    Tensor b_t = device_matrix(backend(), b, 1, cols);
    const auto want = reference_layer_norm(x, w, b, rows, cols, 1e-6);
    // Out of place, from a strided column slice.
    Tensor wide = device_matrix(backend(), padded(x, rows, cols, 3, 7.0f), rows, cols + 3);
    auto out = backend().allocate(DType::kF32, rows, cols);
    ASSERT_TRUE(out.ok());
    backend().layer_norm(out->view(), wide.view().cols_slice(3, cols), w_t.view(), b_t.view(),
                         1e-6f);
    expect_close(host_values(backend(), out->view()), want, 2e-5);
    // In place.
    Tensor x_t = device_matrix(backend(), x, rows, cols);
    backend().layer_norm(x_t.view(), x_t.view(), w_t.view(), b_t.view(), 1e-6f);
    expect_close(host_values(backend(), x_t.view()), want, 2e-5);
  }
}

TEST_F(CudaOps, RmsNormMatchesReferenceInPlaceAndStrided) {
  for (const int64_t cols : {1, 33, 1536, 3584}) {
    SCOPED_TRACE(cols);
    const int64_t rows = 5;
    const auto x = random_values(rows * cols, 20, -3.0f, 3.0f);
    const auto w = random_values(cols, 21);
    Tensor w_t = device_matrix(backend(), w, 1, cols);
    const auto want = reference_rms_norm(x, w, rows, cols, 1e-6);
    Tensor wide = device_matrix(backend(), padded(x, rows, cols, 2, -9.0f), rows, cols + 2);
    auto out = backend().allocate(DType::kF32, rows, cols);
    ASSERT_TRUE(out.ok());
    backend().rms_norm(out->view(), wide.view().cols_slice(2, cols), w_t.view(), 1e-6f);
    expect_close(host_values(backend(), out->view()), want, 1e-5);
    Tensor x_t = device_matrix(backend(), x, rows, cols);
    backend().rms_norm(x_t.view(), x_t.view(), w_t.view(), 1e-6f);
    expect_close(host_values(backend(), x_t.view()), want, 1e-5);
  }
}

// 5 columns in, the kernel turns one pair at a time; 4 columns (16 bytes) in, four pairs where
// half a head is a multiple of 4 (head_dim 8 and 80: 40; 128: 64).
TEST_F(CudaOps, RotaryRotatesEveryHeadOfAStridedSlice) {
  for (const int64_t pad : {5, 4}) {
    for (const auto& [heads, dim] : {std::pair{3, 8}, std::pair{16, 80}, std::pair{12, 128}}) {
      SCOPED_TRACE(::testing::Message()
                   << heads << " heads of " << dim << ", " << pad << " columns in");
      const int64_t rows = 7, width = int64_t{heads} * dim, half = dim / 2;
      const auto x = random_values(rows * width, 30, -2.0f, 2.0f);
      const auto cos = random_values(rows * half, 31);
      const auto sin = random_values(rows * half, 32);
      // x is a column slice of a fused qkv-like matrix; the other columns must stay untouched.
      const auto wide = padded(x, rows, width, pad, 3.0f);
      Tensor x_t = device_matrix(backend(), wide, rows, width + pad);
      Tensor cos_t = device_matrix(backend(), cos, rows, half);
      Tensor sin_t = device_matrix(backend(), sin, rows, half);
      backend().rotary(x_t.view().cols_slice(pad, width), cos_t.view(), sin_t.view(), heads, dim);
      const auto rotated = reference_rotary(x, cos, sin, rows, heads, dim);
      std::vector<double> want(wide.begin(), wide.end());
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(&rotated[r * width], width, &want[r * (width + pad) + pad]);
      }
      expect_close(host_values(backend(), x_t.view()), want, 1e-6);
    }
  }
}

// In place on a column slice: 1 column in, the kernels take one column at a time; 4 columns
// (16 bytes) in, four at a time.
TEST_F(CudaOps, ActivationsMatchTheirFormulas) {
  const int64_t rows = 4, cols = 300;
  const auto x = random_values(rows * cols, 40, -9.0f, 9.0f);
  for (const int64_t pad : {1, 4}) {
    for (const Activation kind :
         {Activation::kGeluErf, Activation::kQuickGelu, Activation::kSilu}) {
      SCOPED_TRACE(::testing::Message()
                   << "activation " << static_cast<int>(kind) << ", " << pad << " columns in");
      Tensor wide = device_matrix(backend(), padded(x, rows, cols, pad, 5.0f), rows, cols + pad);
      backend().activation(wide.view().cols_slice(pad, cols), wide.view().cols_slice(pad, cols),
                           kind);
      std::vector<double> want;
      for (int64_t r = 0; r < rows; ++r) {
        want.insert(want.end(), static_cast<size_t>(pad), 5.0);
        for (int64_t c = 0; c < cols; ++c) {
          want.push_back(reference_activation(x[r * cols + c], kind));
        }
      }
      expect_close(host_values(backend(), wide.view()), want, 2e-6);
    }
  }
}

TEST_F(CudaOps, SiluMulWritesIntoGateAndAddAccumulates) {
  const int64_t rows = 6, inter = 200;
  const auto gate_up = random_values(rows * 2 * inter, 50, -6.0f, 6.0f);
  Tensor fused = device_matrix(backend(), gate_up, rows, 2 * inter);
  const TensorView gate = fused.view().cols_slice(0, inter);
  backend().silu_mul(gate, gate, fused.view().cols_slice(inter, inter));  // out aliases gate
  std::vector<double> want(gate_up.begin(), gate_up.end());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < inter; ++c) {
      const double g = gate_up[r * 2 * inter + c], u = gate_up[r * 2 * inter + inter + c];
      want[r * 2 * inter + c] = reference_activation(g, Activation::kSilu) * u;
    }
  }
  expect_close(host_values(backend(), fused.view()), want, 2e-6);

  const auto a = random_values(rows * inter, 51);
  const auto b = random_values(rows * inter, 52);
  Tensor a_t = device_matrix(backend(), a, rows, inter);
  Tensor b_t = device_matrix(backend(), b, rows, inter);
  backend().add(a_t.view(), b_t.view());
  std::vector<double> sum(a.size());
  for (size_t i = 0; i < a.size(); ++i) sum[i] = double(a[i]) + b[i];
  expect_close(host_values(backend(), a_t.view()), sum, 1e-7);
}

// As on the CPU (tests/tensor/elementwise_test.cpp): every kernel that may write a bf16 matmul
// input writes the f32 result rounded, and the matmul reads it.
TEST_F(CudaOps, Bf16MatmulInputsAreTheRoundedF32Results) { check_bf16_matmul_inputs(backend()); }

TEST_F(CudaOps, EmptyViewsAreNoOps) {
  auto empty = backend().allocate(DType::kF32, 0, 16);
  Tensor w = device_matrix(backend(), std::vector<float>(16, 1.0f), 1, 16);
  ASSERT_TRUE(empty.ok());
  backend().rms_norm(empty->view(), empty->view(), w.view(), 1e-6f);
  backend().activation(empty->view(), empty->view(), Activation::kSilu);
  backend().add(empty->view(), empty->view());
  EXPECT_TRUE(host_values(backend(), empty->view()).empty());
}

// The shared cases (rows of several parts, ties across parts and from the temperature, NaNs,
// -inf, narrow rows), from a strided column slice, bit for bit as process_score_row; then a
// vocabulary-sized batch such as a decode step's, and the same op again on its result (the
// result buffers are reused).
TEST_F(CudaOps, ProcessScoresMatchesTheReferenceBitForBit) {
  std::vector<ScoreCase> cases = score_cases(cuda::kScorePartColumns);
  cases.push_back(random_score_case("decode step", 8, 151936, 700, 0.1f, 99));
  for (const ScoreCase& c : cases) {
    const int64_t pad = 5;
    Tensor scores =
        device_matrix(backend(), padded(c.values, c.rows, c.cols, pad, 7.0f), c.rows, c.cols + pad);
    const TensorView view = scores.view().cols_slice(pad, c.cols);
    std::vector<LargestScore> largest(static_cast<size_t>(c.rows));
    backend().process_scores(view, c.rules(), largest);
    const std::vector<float> processed = host_values(backend(), view);
    expect_as_reference(c, processed, largest);
    ScoreCase again = c;
    again.values = processed;
    backend().process_scores(view, again.rules(), largest);
    expect_as_reference(again, host_values(backend(), view), largest);
  }
}

TEST(CudaOpsDeathTest, MismatchedShapesAbortWithTheShapes) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary();
  // A forked child must not use the parent's CUDA context: re-run the test in a new process.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto backend = make_cuda_backend(CudaBackendOptions{0});
  ASSERT_TRUE(backend.ok());
  const std::vector<float> w(4 * 3, 1.0f);
  auto weight =
      (*backend)->prepare_weight(HostMatrix{w.data(), HostDType::kF32, 4, 3}, Precision::kF32);
  auto in = (*backend)->allocate(DType::kF32, 2, 5);
  auto out = (*backend)->allocate(DType::kF32, 2, 4);
  ASSERT_TRUE(weight.ok() && in.ok() && out.ok());
  EXPECT_DEATH((*backend)->matmul(out->view(), in->view(), *weight),
               "\\[matmul\\] shapes differ: out \\[2,4\\] in \\[2,5\\] W \\[4,3\\]");
}

}  // namespace
}  // namespace vcap::tensor::testing
