// Backend::matmul against a double-precision reference, f32 and bf16 weights.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;

struct Case {
  int64_t rows, in_features, out_features;
  bool bias;
  MatmulAccumulate accumulate;
};

// Runs one case and checks it. The error is measured against sum_i |in_i * w_i| (plus |bias|
// and |previous out|): the scale of the rounding an f32 dot product can accumulate.
void check_matmul(KernelPath path, Precision precision, const Case& c, bool strided) {
  auto backend = testing::make_test_backend(path);
  const int64_t pad = strided ? 3 : 0;
  const auto in = testing::random_values(c.rows * (c.in_features + pad), 10);
  const auto w = testing::random_values(c.out_features * c.in_features, 11);
  const auto bias = testing::random_values(c.out_features, 12);
  const auto previous = testing::random_values(c.rows * (c.out_features + pad), 13);
  Tensor in_t = testing::device_matrix(*backend, in, c.rows, c.in_features + pad);
  Tensor out_t = testing::device_matrix(*backend, previous, c.rows, c.out_features + pad);
  Tensor bias_t = testing::device_matrix(*backend, bias, 1, c.out_features);
  auto weight = backend->prepare_weight(
      HostMatrix{w.data(), HostDType::kF32, c.out_features, c.in_features}, precision);
  ASSERT_TRUE(weight.ok()) << weight.status().to_string();
  const TensorView in_v = in_t.view().cols_slice(pad, c.in_features);
  const TensorView out_v = out_t.view().cols_slice(pad, c.out_features);
  backend->matmul(out_v, in_v, *weight,
                  c.bias ? std::optional<TensorView>(bias_t.view()) : std::nullopt, c.accumulate);

  const bool bf16 = precision == Precision::kBF16;
  std::vector<double> want(c.rows * c.out_features), scale(want.size());
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t o = 0; o < c.out_features; ++o) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < c.in_features; ++i) {
        double a = in[r * (c.in_features + pad) + pad + i];
        double b = w[o * c.in_features + i];
        if (bf16) a = testing::round_bf16(a), b = testing::round_bf16(b);
        sum += a * b;
        magnitude += std::abs(a * b);
      }
      if (c.bias) sum += bias[o], magnitude += std::abs(bias[o]);
      if (c.accumulate == MatmulAccumulate::kAddToOut) {
        const double old = previous[r * (c.out_features + pad) + pad + o];
        sum += old;
        magnitude += std::abs(old);
      }
      want[r * c.out_features + o] = sum;
      scale[r * c.out_features + o] = magnitude + 1e-6;
    }
  }
  testing::expect_close(testing::host_values(*backend, out_v), want, 2e-6, &scale);
  if (strided) {  // the padding columns of out are untouched
    const auto all = testing::host_values(*backend, out_t.view());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t p = 0; p < pad; ++p) {
        EXPECT_EQ(all[r * (c.out_features + pad) + p], previous[r * (c.out_features + pad) + p]);
      }
    }
  }
}

class MatmulTest : public ::testing::TestWithParam<KernelPath> {};

TEST_P(MatmulTest, F32MatchesReferenceAcrossShapes) {
  for (const Case& c : {Case{1, 64, 32, false, MatmulAccumulate::kOverwrite},
                        Case{7, 33, 17, true, MatmulAccumulate::kOverwrite},
                        Case{19, 128, 96, true, MatmulAccumulate::kAddToOut},
                        Case{64, 257, 65, false, MatmulAccumulate::kAddToOut}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.in_features << "->" << c.out_features);
    check_matmul(GetParam(), Precision::kF32, c, false);
    check_matmul(GetParam(), Precision::kF32, c, true);
  }
}

TEST_P(MatmulTest, Bf16RoundsInputsAndWeightsAndAccumulatesInF32) {
  for (const Case& c : {Case{1, 64, 32, true, MatmulAccumulate::kOverwrite},
                        Case{9, 95, 33, true, MatmulAccumulate::kAddToOut},
                        Case{48, 256, 80, false, MatmulAccumulate::kOverwrite}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.in_features << "->" << c.out_features);
    check_matmul(GetParam(), Precision::kBF16, c, false);
    check_matmul(GetParam(), Precision::kBF16, c, true);
  }
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
  std::vector<double> want(rows * n), scale(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      for (int64_t i = 0; i < k; ++i) {
        want[r * n + o] += double(in[r * k + i]) * w[o * k + i];
        scale[r * n + o] += std::abs(double(in[r * k + i]) * w[o * k + i]);
      }
    }
  }
  // Two bf16 roundings (2^-9 relative each) per product.
  testing::expect_close(testing::host_values(*backend, out->view()), want, 1e-2, &scale);
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
