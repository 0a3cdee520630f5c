// Helpers for the tests of any Backend (the CPU ones in tests/tensor, the CUDA ones in
// tests/gpu): random data, host <-> device matrices, a tolerance check in the manner of ggml's
// test-backend-ops (per op and dtype, against a double reference from reference_ops.h), and
// the checks of matmul and attention that both backends run on the same cases.
#ifndef VCAP_TESTS_TENSOR_BACKEND_TEST_UTIL_H_
#define VCAP_TESTS_TENSOR_BACKEND_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "reference_ops.h"
#include "tensor/backend.h"

namespace vcap::tensor::testing {

inline std::vector<float> random_values(size_t count, uint32_t seed, float low = -1.0f,
                                        float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// A device f32 tensor [rows, cols] holding `values` (row-major); empty if allocation fails.
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
  EXPECT_LE(worst, tolerance) << "at element " << worst_index << " of " << actual.size() << ": got "
                              << actual[worst_index] << ", want " << expected[worst_index];
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

// K and V ([rows, width] each) side by side in rows of `stride` >= 2 * width floats, the other
// columns `fill`: the KV-cache-like layout attention tests read through column slices.
inline std::vector<float> keys_beside_values(const std::vector<float>& k,
                                             const std::vector<float>& v, int64_t rows,
                                             int64_t width, int64_t stride, float fill = 0.0f) {
  std::vector<float> fused(static_cast<size_t>(rows * stride), fill);
  for (int64_t j = 0; j < rows; ++j) {
    std::copy_n(&k[j * width], width, &fused[j * stride]);
    std::copy_n(&v[j * width], width, &fused[j * stride + width]);
  }
  return fused;
}

// `values` rounded to bf16 (nearest even) and widened back: inputs a bf16 kernel reads exactly.
inline std::vector<float> rounded_to_bf16(std::vector<float> values) {
  for (float& x : values) x = bf16_to_f32(f32_to_bf16(x));
  return values;
}

// Attention with bf16 products (AttentionParams::bf16_products) on q, k, v that are bf16 values
// already, against the double reference: the softmax weights are rounded to bf16 (relative
// error <= 2^-8 each) before P.V and every output is a convex combination of values |v| <= 1,
// so |error| <= 2^-8; 1e-4 more covers the f32 accumulation of the scores and the outputs.
inline constexpr double kBf16AttentionTolerance = 1.0 / 256 + 1e-4;

// Columns [begin, begin + count) of `values` (row-major [rows, row_stride]): the host image of
// a column slice, unstrided (what the references take).
inline std::vector<float> host_columns(const std::vector<float>& values, int64_t rows,
                                       int64_t row_stride, int64_t begin, int64_t count) {
  std::vector<float> columns(static_cast<size_t>(rows * count));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(values.begin() + r * row_stride + begin, count, columns.begin() + r * count);
  }
  return columns;
}

struct MatmulCase {
  int64_t rows, in_features, out_features;
  bool bias;
  MatmulAccumulate accumulate;
};

// Runs one matmul case on `backend` and compares it with reference_matmul, the error measured
// against the reference's scale. `strided`: in and out are column slices at an offset of 3
// floats (misaligned for 16-byte vectors), whose padding columns must stay untouched. With
// kOverwrite, out starts as NaN, so every element must be written.
inline void check_matmul(Backend& backend, Precision precision, const MatmulCase& c, bool strided,
                         uint32_t seed, double tolerance) {
  const int64_t pad = strided ? 3 : 0;
  const float fill = 7.0f;  // padding columns
  const auto in = random_values(c.rows * c.in_features, seed);
  const auto w = random_values(c.out_features * c.in_features, seed + 1);
  const auto bias = random_values(c.out_features, seed + 2);
  const bool add = c.accumulate == MatmulAccumulate::kAddToOut;
  const auto previous =
      add ? random_values(c.rows * c.out_features, seed + 3)
          : std::vector<float>(c.rows * c.out_features, std::numeric_limits<float>::quiet_NaN());
  Tensor in_t = device_matrix(backend, padded(in, c.rows, c.in_features, pad, fill), c.rows,
                              c.in_features + pad);
  Tensor out_t = device_matrix(backend, padded(previous, c.rows, c.out_features, pad, fill), c.rows,
                               c.out_features + pad);
  Tensor bias_t = device_matrix(backend, bias, 1, c.out_features);
  auto weight = backend.prepare_weight(
      HostMatrix{w.data(), HostDType::kF32, c.out_features, c.in_features}, precision);
  ASSERT_TRUE(weight.ok()) << weight.status().to_string();
  const TensorView out_v = out_t.view().cols_slice(pad, c.out_features);
  backend.matmul(out_v, in_t.view().cols_slice(pad, c.in_features), *weight,
                 c.bias ? std::optional<TensorView>(bias_t.view()) : std::nullopt, c.accumulate);
  const Status s = backend.synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();

  const MatmulReference want = reference_matmul(
      in, w, c.bias ? bias : std::vector<float>(), add ? previous : std::vector<float>(), c.rows,
      c.in_features, c.out_features, precision == Precision::kBF16);
  expect_close(host_values(backend, out_v), want.values, tolerance, &want.scale);
  if (strided) {
    const auto all = host_values(backend, out_t.view());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t p = 0; p < pad; ++p) EXPECT_EQ(all[r * (c.out_features + pad) + p], fill);
    }
  }
}

// check_matmul on each case, contiguous and strided, with fresh seeds from `seed` on.
inline void check_matmul_cases(Backend& backend, Precision precision,
                               const std::vector<MatmulCase>& cases, uint32_t seed,
                               double tolerance) {
  for (const MatmulCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.rows << "x" << c.in_features << "->" << c.out_features
                 << (c.bias ? " bias" : "")
                 << (c.accumulate == MatmulAccumulate::kAddToOut ? " add" : ""));
    check_matmul(backend, precision, c, false, seed, tolerance);
    check_matmul(backend, precision, c, true, seed + 10, tolerance);
    seed += 20;
  }
}

// gather_rows of ids (repeats included, first and last row) from a random [130, 37] table
// prepared in `precision`: every row comes back exactly, rounded to bf16 when the table is bf16.
// The table spans several of oneDNN's weight blocks in both dimensions (rows > 64, columns > 16
// with a partial block), so the CPU backend reads rows back through its packed layout.
inline void check_gather_rows(Backend& backend, Precision precision, uint32_t seed) {
  const int64_t vocab = 130, cols = 37;
  const std::vector<float> table = random_values(vocab * cols, seed);
  const std::vector<int32_t> ids = {129, 0, 64, 63, 64, 7};
  auto weight =
      backend.prepare_weight(HostMatrix{table.data(), HostDType::kF32, vocab, cols}, precision);
  ASSERT_TRUE(weight.ok()) << weight.status().to_string();
  EXPECT_EQ(weight->out_features(), vocab);
  EXPECT_EQ(weight->in_features(), cols);
  EXPECT_EQ(weight->dtype(), weight_dtype(precision));
  auto out = backend.allocate(DType::kF32, static_cast<int64_t>(ids.size()), cols);
  ASSERT_TRUE(out.ok());
  backend.gather_rows(out->view(), *weight, ids);
  const std::vector<float> got = host_values(backend, out->view());
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int64_t c = 0; c < cols; ++c) {
      float want = table[ids[i] * cols + c];
      if (precision == Precision::kBF16) want = bf16_to_f32(f32_to_bf16(want));
      ASSERT_EQ(got[i * cols + c], want) << "id " << ids[i] << " col " << c;
    }
  }
}

// Runs attention on `backend` and compares it with reference_attention. q is a column slice of
// a wider matrix; each block's k and v are column slices of one fused [k_count, 2 * kv_width]
// matrix (the KV-cache-like layout, strided). Fills the blocks' k and v with random values.
inline void check_attention(Backend& backend, const AttentionParams& p,
                            std::vector<HostAttentionBlock> blocks, int64_t rows, uint32_t seed,
                            double tolerance) {
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const auto q = random_values(rows * width, seed, -3.0f, 3.0f);
  const auto initial = random_values(rows * width, seed + 1);
  Tensor q_t = device_matrix(backend, padded(q, rows, width, 5, 0.0f), rows, width + 5);
  Tensor out_t = device_matrix(backend, initial, rows, width);
  std::vector<Tensor> kv;
  std::vector<AttentionBlock> device_blocks;
  uint32_t block_seed = seed + 100;
  for (HostAttentionBlock& b : blocks) {
    b.k = random_values(b.k_count * kv_width, block_seed++, -3.0f, 3.0f);
    b.v = random_values(b.k_count * kv_width, block_seed++);
    const std::vector<float> fused =
        keys_beside_values(b.k, b.v, b.k_count, kv_width, 2 * kv_width);
    kv.push_back(device_matrix(backend, fused, b.k_count, 2 * kv_width));
    const TensorView all = kv.back().view();
    device_blocks.push_back({b.q_begin, b.q_count, all.cols_slice(0, kv_width),
                             all.cols_slice(kv_width, kv_width), b.causal, b.offset});
  }
  backend.attention(out_t.view(), q_t.view().cols_slice(5, width), device_blocks, p);
  const Status s = backend.synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();
  expect_close(host_values(backend, out_t.view()), reference_attention(q, blocks, p, initial),
               tolerance);
}

// Runs attention with bf16 products over keys and values of `kv_dtype` (kBF16: the bf16 model's
// KV cache; kF32: the vision tower's qkv activations), K and V side by side in one matrix, so
// kernels must follow the row stride, and compares it with reference_attention on the same
// values. q, k and v are bf16 values to begin with, so rounding them in a kernel changes nothing
// the reference misses; what is left is p rounded to bf16 (relative 2^-8 at most) on convex
// combinations of |v| <= 1, plus f32 accumulation (kBf16AttentionTolerance).
inline void check_attention_bf16_products(Backend& backend, AttentionParams p,
                                          std::vector<HostAttentionBlock> blocks, int64_t rows,
                                          uint32_t seed, DType kv_dtype = DType::kBF16) {
  p.bf16_products = true;
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const auto q = rounded_to_bf16(random_values(rows * width, seed, -3.0f, 3.0f));
  const auto initial = random_values(rows * width, seed + 1);
  Tensor q_t = device_matrix(backend, q, rows, width);
  Tensor out_t = device_matrix(backend, initial, rows, width);
  std::vector<Tensor> caches;
  std::vector<AttentionBlock> device_blocks;
  for (HostAttentionBlock& b : blocks) {
    b.k = rounded_to_bf16(random_values(b.k_count * kv_width, ++seed, -3.0f, 3.0f));
    b.v = rounded_to_bf16(random_values(b.k_count * kv_width, ++seed));
    const std::vector<float> fused =
        keys_beside_values(b.k, b.v, b.k_count, kv_width, 2 * kv_width);
    Tensor wide = device_matrix(backend, fused, b.k_count, 2 * kv_width);
    if (kv_dtype == DType::kBF16) {
      auto cache = backend.allocate(DType::kBF16, b.k_count, 2 * kv_width);
      ASSERT_TRUE(cache.ok()) << cache.status().to_string();
      backend.copy(cache->view(), wide.view());
      caches.push_back(std::move(*cache));
    } else {
      caches.push_back(std::move(wide));
    }
    const TensorView all = caches.back().view();
    device_blocks.push_back({b.q_begin, b.q_count, all.cols_slice(0, kv_width),
                             all.cols_slice(kv_width, kv_width), b.causal, b.offset});
  }
  backend.attention(out_t.view(), q_t.view(), device_blocks, p);
  const Status s = backend.synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();
  expect_close(host_values(backend, out_t.view()), reference_attention(q, blocks, p, initial),
               kBf16AttentionTolerance);
}

// Runs `op(out)` once with an f32 out and once with a bf16 out (a column slice of a wider bf16
// matrix; both outs start as kFill) and expects the bf16 out to hold the f32 out rounded to
// nearest even, bit for bit, with the padding columns untouched: the bf16 matmul inputs of
// tensor/backend.h are the values the matmul would have rounded.
template <class Op>
void expect_bf16_out_rounds_f32_out(Backend& backend, int64_t rows, int64_t cols, Op&& op) {
  constexpr float kFill = 7.0f;  // a bf16 value
  Tensor f32 = device_matrix(backend, std::vector<float>(rows * cols, kFill), rows, cols);
  Tensor wide =
      device_matrix(backend, std::vector<float>(rows * (cols + 2), kFill), rows, cols + 2);
  auto bf16 = backend.allocate(DType::kBF16, rows, cols + 2);
  ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
  backend.copy(bf16->view(), wide.view());
  op(f32.view());
  op(bf16->view().cols_slice(1, cols));
  const Status s = backend.synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();
  const std::vector<float> want = rounded_to_bf16(host_values(backend, f32.view()));
  const std::vector<float> got = host_values(backend, bf16->view());
  int64_t mismatches = 0;
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(got[r * (cols + 2)], kFill);
    EXPECT_EQ(got[r * (cols + 2) + cols + 1], kFill);
    for (int64_t c = 0; c < cols; ++c) {
      mismatches += got[r * (cols + 2) + 1 + c] != want[r * cols + c];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << rows * cols << " bf16 outputs";
}

// Every op that may write a bf16 matmul input (tensor/backend.h) writes the rounded f32 result,
// and matmul reads such a bf16 input (contiguous or strided) as it reads those values in f32.
// Shapes: 130 rows (more than one block of rows where a backend works in blocks) of 300
// columns (past any vector width, with tails); attention both as the vision tower runs it
// (head_dim 80, segments) and as the decoder does (head_dim 128, GQA, causal prefill after a
// cached prefix, a decode row over 700 keys that a GPU splits into key parts), with bf16
// products and in f32, leaving rows outside every block untouched.
inline void check_bf16_matmul_inputs(Backend& backend) {
  const int64_t rows = 130, cols = 300;
  const auto x = random_values(rows * cols, 70, -3.0f, 3.0f);
  Tensor in = device_matrix(backend, x, rows, cols);
  Tensor weight = device_matrix(backend, random_values(cols, 71, 0.5f, 1.5f), 1, cols);
  Tensor bias = device_matrix(backend, random_values(cols, 72), 1, cols);
  Tensor fused =
      device_matrix(backend, random_values(rows * 2 * cols, 73, -6.0f, 6.0f), rows, 2 * cols);
  {
    SCOPED_TRACE("layer_norm");
    expect_bf16_out_rounds_f32_out(backend, rows, cols, [&](TensorView out) {
      backend.layer_norm(out, in.view(), weight.view(), bias.view(), 1e-6f);
    });
  }
  {
    SCOPED_TRACE("rms_norm");
    expect_bf16_out_rounds_f32_out(backend, rows, cols, [&](TensorView out) {
      backend.rms_norm(out, in.view(), weight.view(), 1e-6f);
    });
  }
  for (const Activation kind : {Activation::kGeluErf, Activation::kQuickGelu, Activation::kSilu}) {
    SCOPED_TRACE(::testing::Message() << "activation " << static_cast<int>(kind));
    expect_bf16_out_rounds_f32_out(
        backend, rows, cols, [&](TensorView out) { backend.activation(out, in.view(), kind); });
  }
  {
    SCOPED_TRACE("silu_mul");
    expect_bf16_out_rounds_f32_out(backend, rows, cols, [&](TensorView out) {
      backend.silu_mul(out, fused.view().cols_slice(0, cols), fused.view().cols_slice(cols, cols));
    });
  }
  struct AttentionCase {
    const char* name;
    int heads, kv_heads, dim;
    int64_t rows, keys;
    std::vector<AttentionBlock> (*blocks)(TensorView k, TensorView v);
  };
  const AttentionCase cases[] = {
      {"vision", 2, 2, 80, 70, 70,
       [](TensorView k, TensorView v) {
         return std::vector<AttentionBlock>{
             {0, 30, k.rows_slice(0, 30), v.rows_slice(0, 30), false, 0},
             {30, 36, k.rows_slice(30, 36), v.rows_slice(30, 36), false, 0}};
       }},
      {"decoder", 4, 2, 128, 20, 700,
       [](TensorView k, TensorView v) {
         return std::vector<AttentionBlock>{
             {0, 17, k.rows_slice(0, 37), v.rows_slice(0, 37), true, 20}, {18, 1, k, v, true, 699}};
       }},
  };
  for (const AttentionCase& c : cases) {
    for (const bool bf16_products : {true, false}) {
      SCOPED_TRACE(::testing::Message()
                   << "attention " << c.name << (bf16_products ? " bf16" : " f32"));
      const int64_t width = int64_t{c.heads} * c.dim;
      const int64_t kv_width = int64_t{c.kv_heads} * c.dim;
      Tensor q =
          device_matrix(backend, random_values(c.rows * width, 74, -3.0f, 3.0f), c.rows, width);
      Tensor kv = device_matrix(backend, random_values(c.keys * 2 * kv_width, 75, -3.0f, 3.0f),
                                c.keys, 2 * kv_width);
      const std::vector<AttentionBlock> blocks =
          c.blocks(kv.view().cols_slice(0, kv_width), kv.view().cols_slice(kv_width, kv_width));
      const AttentionParams params{c.heads, c.kv_heads, c.dim,
                                   1.0f / std::sqrt(static_cast<float>(c.dim)), bf16_products};
      expect_bf16_out_rounds_f32_out(backend, c.rows, width, [&](TensorView out) {
        backend.attention(out, q.view(), blocks, params);
      });
    }
  }
  {
    SCOPED_TRACE("matmul");
    const int64_t out_features = 40;
    const auto w = random_values(out_features * cols, 76);
    auto bf16_weight = backend.prepare_weight(
        HostMatrix{w.data(), HostDType::kF32, out_features, cols}, Precision::kBF16);
    ASSERT_TRUE(bf16_weight.ok()) << bf16_weight.status().to_string();
    auto in_bf16 = backend.allocate(DType::kBF16, rows, cols + 3);
    ASSERT_TRUE(in_bf16.ok()) << in_bf16.status().to_string();
    const TensorView strided = in_bf16->view().cols_slice(3, cols);
    backend.copy(strided, in.view());
    Tensor want =
        device_matrix(backend, std::vector<float>(rows * out_features), rows, out_features);
    backend.matmul(want.view(), in.view(), *bf16_weight, bias.view().cols_slice(0, out_features));
    const std::vector<float> expected = host_values(backend, want.view());
    auto contiguous = backend.allocate(DType::kBF16, rows, cols);
    ASSERT_TRUE(contiguous.ok()) << contiguous.status().to_string();
    backend.copy(contiguous->view(), strided);
    for (const TensorView input : {strided, contiguous->view()}) {
      Tensor got =
          device_matrix(backend, std::vector<float>(rows * out_features), rows, out_features);
      backend.matmul(got.view(), input, *bf16_weight, bias.view().cols_slice(0, out_features));
      // The same products; a GPU library may pick another summation order for other strides.
      expect_close(host_values(backend, got.view()),
                   std::vector<double>(expected.begin(), expected.end()), 1e-5);
    }
  }
}

// parallel_for_host runs every index once, and all of them before it returns, for no index,
// one, and more than the host has cores; each index sleeps a little so that the calls overlap.
inline void check_parallel_for_host(Backend& backend) {
  for (int64_t count : {0, 1, 3, 33}) {
    std::vector<std::atomic<int>> runs(static_cast<size_t>(count));
    std::atomic<int> running = 0;
    std::atomic<int> most_at_once = 0;
    backend.parallel_for_host(count, [&](int64_t i) {
      const int now = ++running;
      int seen = most_at_once.load();
      while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ++runs[static_cast<size_t>(i)];
      --running;
    });
    for (int64_t i = 0; i < count; ++i) EXPECT_EQ(runs[static_cast<size_t>(i)], 1) << i;
    if (count > 1) {
      EXPECT_GE(most_at_once, 2) << "no two indices ran at once";
    }
  }
}

// copy_batch of `pairs` pairs as the decoder's KV-cache appends make them: pair i copies
// count_i rows (0, then 100, then 1 to 3) of a strided f32 source slice into a rows and columns
// slice of its own destination of `dst_dtype`. Every destination then holds its source rows
// (rounded to bf16 when bf16) where written and kFill everywhere else. More pairs than a GPU
// kernel takes at once (64) check that the batch is split without losing any.
inline void check_copy_batch(Backend& backend, DType dst_dtype, int pairs) {
  constexpr float kFill = 7.0f;  // a bf16 value
  const int64_t cols = 24, src_rows = 100, spare = 5;
  const auto values = random_values(src_rows * (cols + 3), 80);
  Tensor src = device_matrix(backend, values, src_rows, cols + 3);
  struct Expected {
    Tensor dst;
    std::vector<float> image;
  };
  std::vector<Expected> expected;
  std::vector<CopyPair> batch;
  for (int i = 0; i < pairs; ++i) {
    const int64_t count = i == 0 ? 0 : (i == 1 ? src_rows : i % 3 + 1);
    const int64_t src_begin = (7 * i) % (src_rows - count + 1);
    const int64_t dst_begin = i % spare;
    const int64_t rows = count + spare, width = cols + 2;
    std::vector<float> image(static_cast<size_t>(rows * width), kFill);
    Tensor filled = device_matrix(backend, image, rows, width);
    auto dst = backend.allocate(dst_dtype, rows, width);
    ASSERT_TRUE(dst.ok()) << dst.status().to_string();
    backend.copy(dst->view(), filled.view());
    for (int64_t r = 0; r < count; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        float x = values[(src_begin + r) * (cols + 3) + 3 + c];
        if (dst_dtype == DType::kBF16) x = bf16_to_f32(f32_to_bf16(x));
        image[(dst_begin + r) * width + 1 + c] = x;
      }
    }
    batch.push_back({dst->view().rows_slice(dst_begin, count).cols_slice(1, cols),
                     src.view().rows_slice(src_begin, count).cols_slice(3, cols)});
    expected.push_back({std::move(*dst), std::move(image)});
  }
  backend.copy_batch(batch);
  const Status s = backend.synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(host_values(backend, expected[i].dst.view()), expected[i].image) << "pair " << i;
  }
}

// A download into allocate_host memory (the decode step's logits) brings the values back.
inline void check_download_into_host_buffer(Backend& backend) {
  const std::vector<float> values = random_values(3 * 1000, 90);
  Tensor device = device_matrix(backend, values, 3, 1000);
  auto host = backend.allocate_host(values.size() + 5);
  ASSERT_TRUE(host.ok()) << host.status().to_string();
  ASSERT_EQ(host->span().size(), values.size() + 5);
  backend.download(device.view(), host->span().subspan(0, values.size()));
  EXPECT_TRUE(std::equal(values.begin(), values.end(), host->span().begin()));
  HostBuffer moved = std::move(*host);  // the memory goes with it, released once
  EXPECT_EQ(moved.span()[0], values[0]);
}

}  // namespace vcap::tensor::testing

#endif  // VCAP_TESTS_TENSOR_BACKEND_TEST_UTIL_H_
