// CUDA backend: matmul (cuBLASLt) against a double reference, f32 and bf16 weights, bias,
// accumulate, strided (unaligned) views, decode and model-sized shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor {
namespace {

using gpu_testing::CudaTest;
using gpu_testing::device_matrix;
using gpu_testing::expect_close;
using gpu_testing::host_values;
using gpu_testing::random_values;
using gpu_testing::round_bf16;

struct Case {
  int64_t rows, in_features, out_features;
  bool bias;
  MatmulAccumulate accumulate;
};

class CudaMatmul : public CudaTest {
 protected:
  // Runs one case; the error is measured against sum_i |in_i * w_i| (+ |bias| + |previous|),
  // the scale of the rounding an f32 dot product can accumulate. With kOverwrite the output
  // starts as NaN, so every element must be written.
  void check(Precision precision, const Case& c, bool strided, uint32_t seed) {
    const int64_t pad = strided ? 3 : 0;  // 12-byte offsets: misaligned for 16-byte vectors
    const auto in = random_values(c.rows * (c.in_features + pad), seed);
    const auto w = random_values(c.out_features * c.in_features, seed + 1);
    const auto bias = random_values(c.out_features, seed + 2);
    auto previous = random_values(c.rows * (c.out_features + pad), seed + 3);
    if (c.accumulate == MatmulAccumulate::kOverwrite) {
      for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t o = 0; o < c.out_features; ++o) {
          previous[r * (c.out_features + pad) + pad + o] = std::numeric_limits<float>::quiet_NaN();
        }
      }
    }
    Tensor in_t = device_matrix(backend(), in, c.rows, c.in_features + pad);
    Tensor out_t = device_matrix(backend(), previous, c.rows, c.out_features + pad);
    Tensor bias_t = device_matrix(backend(), bias, 1, c.out_features);
    auto weight = backend().prepare_weight(
        HostMatrix{w.data(), HostDType::kF32, c.out_features, c.in_features}, precision);
    ASSERT_TRUE(weight.ok()) << weight.status().to_string();
    const TensorView in_v = in_t.view().cols_slice(pad, c.in_features);
    const TensorView out_v = out_t.view().cols_slice(pad, c.out_features);
    backend().matmul(out_v, in_v, *weight,
                     c.bias ? std::optional<TensorView>(bias_t.view()) : std::nullopt,
                     c.accumulate);
    const Status s = backend().synchronize();
    ASSERT_TRUE(s.ok()) << s.to_string();

    const bool bf16 = precision == Precision::kBF16;
    std::vector<double> want(c.rows * c.out_features), scale(want.size());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t o = 0; o < c.out_features; ++o) {
        double sum = 0.0, magnitude = 0.0;
        for (int64_t i = 0; i < c.in_features; ++i) {
          double a = in[r * (c.in_features + pad) + pad + i];
          double b = w[o * c.in_features + i];
          if (bf16) a = round_bf16(a), b = round_bf16(b);
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
    // f32 accumulation in any order: a few ulp of the magnitude (no TF32: that would be 1e-3).
    expect_close(host_values(backend(), out_v), want, 1e-5, &scale);
    if (strided) {  // the padding columns of out are untouched
      const auto all = host_values(backend(), out_t.view());
      for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t p = 0; p < pad; ++p) {
          EXPECT_EQ(all[r * (c.out_features + pad) + p], previous[r * (c.out_features + pad) + p]);
        }
      }
    }
  }

  void check_all(Precision precision, const std::vector<Case>& cases) {
    uint32_t seed = 100;
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message()
                   << c.rows << "x" << c.in_features << "->" << c.out_features
                   << (c.bias ? " bias" : "")
                   << (c.accumulate == MatmulAccumulate::kAddToOut ? " add" : ""));
      check(precision, c, false, seed);
      check(precision, c, true, seed + 10);
      seed += 20;
    }
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
    std::vector<double> want(rows * n), scale(rows * n);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < n; ++o) {
        for (int64_t i = 0; i < k; ++i) {
          const double p = round_bf16(in[r * k + i]) * round_bf16(w[o * k + i]);
          want[r * n + o] += p;
          scale[r * n + o] += std::abs(p);
        }
      }
    }
    expect_close(host_values(backend(), out->view()), want, 1e-5, &scale);
  }
}

}  // namespace
}  // namespace vcap::tensor
