// Backend::attention against a double-precision reference: non-causal segments (vision),
// causal GQA with a KV-cache offset (LLM prefill and decode), long key ranges (many tiles); and
// the same shapes with bf16_products (the bf16 model path) against the reference computed on
// bf16-rounded q, k and v.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "tensor/cpu/attention_bf16.h"
#include "tensor/cpu/cpu_context.h"
#include "tensor/dtype.h"
#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;
using testing::make_test_backend;
using Blocks = std::vector<testing::HostAttentionBlock>;

// q, k and v are strided column slices (testing::check_attention).
void check_attention(KernelPath path, const AttentionParams& p, Blocks blocks, int64_t rows,
                     uint32_t seed, double tolerance) {
  auto backend = make_test_backend(path);
  testing::check_attention(*backend, p, std::move(blocks), rows, seed, tolerance);
}

class AttentionTest : public ::testing::TestWithParam<KernelPath> {};

TEST_P(AttentionTest, VisionSegmentsAreIndependentAndBidirectional) {
  const AttentionParams p{2, 2, 80, 1.0f / std::sqrt(80.0f)};
  check_attention(GetParam(), p, {{0, 37, 37, false, 0, {}, {}}, {37, 70, 70, false, 0, {}, {}}},
                  107, 1, 1e-5);
}

TEST_P(AttentionTest, CausalGqaPrefillWithCachedPrefix) {
  const AttentionParams p{6, 2, 32, 1.0f / std::sqrt(32.0f)};
  // Two sequences: 20 new tokens after 13 cached, 9 new tokens with an empty cache.
  check_attention(GetParam(), p, {{0, 20, 33, true, 13, {}, {}}, {20, 9, 9, true, 0, {}, {}}}, 29,
                  2, 1e-5);
}

TEST_P(AttentionTest, DecodeStepOverManyKeyTiles) {
  const AttentionParams p{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  check_attention(GetParam(), p, {{0, 1, 2500, true, 2499, {}, {}}}, 1, 3, 1e-5);
}

TEST_P(AttentionTest, LongCausalPrefillAcrossTileBoundaries) {
  const AttentionParams p{4, 1, 64, 1.0f / std::sqrt(64.0f)};
  check_attention(GetParam(), p, {{0, 150, 150, true, 0, {}, {}}}, 150, 4, 1e-5);
}

TEST_P(AttentionTest, QueriesWithoutVisibleKeysGetZerosAndOtherRowsAreUntouched) {
  const AttentionParams p{2, 1, 16, 0.25f};
  // Offset -3: the first three queries see no key. Rows 0..1 and 8.. belong to no block.
  check_attention(GetParam(), p, {{2, 6, 6, true, -3, {}, {}}}, 10, 5, 1e-5);
}

// 24 is no multiple of 16 (AVX-512 leaves it to the portable loop, AVX2 takes it); 20 is no
// multiple of 8 either.
TEST_P(AttentionTest, HeadDimsOffTheVectorWidthTakeANarrowerKernel) {
  for (const int dim : {24, 20}) {
    SCOPED_TRACE(dim);
    const AttentionParams p{3, 3, dim, 1.0f / std::sqrt(static_cast<float>(dim))};
    check_attention(GetParam(), p, {{0, 11, 11, false, 0, {}, {}}}, 11, 6, 1e-5);
  }
}

// --- bf16 products --------------------------------------------------------------------------

// With bf16_products the CPU backend takes the bf16 kernel when it can (AVX-512 path, a CPU with
// AVX512_BF16, a head_dim it supports) for the blocks that repay packing their keys (at least 16
// queries per kv head); it then matches the double reference on bf16-rounded
// q, k, v within testing::kBf16AttentionTolerance (the scores here: |scale * q.k| <= ~100).
// Otherwise it computes in f32, exactly as without the flag (tolerance 1e-5 against the
// reference on the unrounded inputs).

bool takes_bf16_kernel(KernelPath path, const AttentionParams& p,
                       const testing::HostAttentionBlock& b) {
  AttentionBlock block;
  block.q_count = b.q_count;
  return path == KernelPath::kAvx512 && cpu::cpu_has_avx512_bf16() &&
         cpu::attention_bf16_supports(p) && cpu::attention_bf16_pays_off(block, p);
}

// Like testing::check_attention (q a strided column slice, k and v column slices of one fused
// matrix), with bf16_products set. The backend gets the unrounded values; for the blocks the
// bf16 kernel runs (all or none in these cases) the reference gets the bf16-rounded ones, so the
// kernel must round (to nearest even) itself. expect_bf16_kernel: which kernel the case is
// meant for, checked where the CPU has AVX512_BF16.
void check_bf16_attention(KernelPath path, AttentionParams p, Blocks blocks, int64_t rows,
                          uint32_t seed, bool expect_bf16_kernel = true) {
  p.bf16_products = true;
  bool rounds = false;
  for (const testing::HostAttentionBlock& b : blocks) {
    rounds = takes_bf16_kernel(path, p, b);
    ASSERT_EQ(rounds, takes_bf16_kernel(path, p, blocks.front())) << "mixed kernels in one case";
  }
  if (path == KernelPath::kAvx512 && cpu::cpu_has_avx512_bf16()) {
    ASSERT_EQ(rounds, expect_bf16_kernel);
  }
  auto backend = make_test_backend(path);
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const auto q = testing::random_values(rows * width, seed, -3.0f, 3.0f);
  const auto initial = testing::random_values(rows * width, seed + 1);
  Tensor q_t =
      testing::device_matrix(*backend, testing::padded(q, rows, width, 5, 0.0f), rows, width + 5);
  Tensor out_t = testing::device_matrix(*backend, initial, rows, width);
  std::vector<Tensor> kv;
  std::vector<AttentionBlock> device_blocks;
  Blocks rounded = blocks;
  for (size_t i = 0; i < blocks.size(); ++i) {
    testing::HostAttentionBlock& b = blocks[i];
    const auto k = testing::random_values(b.k_count * kv_width, seed + 100 + 2 * i, -3.0f, 3.0f);
    const auto v = testing::random_values(b.k_count * kv_width, seed + 101 + 2 * i);
    const std::vector<float> fused =
        testing::keys_beside_values(k, v, b.k_count, kv_width, 2 * kv_width);
    rounded[i].k = rounds ? testing::rounded_to_bf16(k) : k;
    rounded[i].v = rounds ? testing::rounded_to_bf16(v) : v;
    kv.push_back(testing::device_matrix(*backend, fused, b.k_count, 2 * kv_width));
    const TensorView all = kv.back().view();
    device_blocks.push_back({b.q_begin, b.q_count, all.cols_slice(0, kv_width),
                             all.cols_slice(kv_width, kv_width), b.causal, b.offset});
  }
  backend->attention(out_t.view(), q_t.view().cols_slice(5, width), device_blocks, p);
  const Status s = backend->synchronize();
  ASSERT_TRUE(s.ok()) << s.to_string();
  testing::expect_close(
      testing::host_values(*backend, out_t.view()),
      testing::reference_attention(rounds ? testing::rounded_to_bf16(q) : q, rounded, p, initial),
      rounds ? testing::kBf16AttentionTolerance : 1e-5);
}

TEST_P(AttentionTest, Bf16VisionSegmentsOfOddLengthsHeadDim80) {
  const AttentionParams p{16, 16, 80, 1.0f / std::sqrt(80.0f)};
  check_bf16_attention(GetParam(), p,
                       {{0, 37, 37, false, 0, {}, {}}, {37, 101, 101, false, 0, {}, {}}}, 138, 11);
}

TEST_P(AttentionTest, Bf16CausalGqaPrefillAfterCachedTokens) {
  const AttentionParams p{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  // 45 new tokens after 77 cached (keys cross a tile boundary), 19 new with an empty cache.
  check_bf16_attention(GetParam(), p,
                       {{0, 45, 122, true, 77, {}, {}}, {45, 19, 19, true, 0, {}, {}}}, 64, 12);
}

// One row, 16 query heads per kv head: 16 queries, the bf16 kernel's smallest task.
TEST_P(AttentionTest, Bf16DecodeStepOverAnOddNumberOfKeys) {
  const AttentionParams p{16, 1, 128, 1.0f / std::sqrt(128.0f)};
  check_bf16_attention(GetParam(), p, {{0, 1, 1001, true, 1000, {}, {}}}, 1, 13);
}

// Qwen2-VL-2B decode (6 queries per kv head) does not repay packing: the f32 kernel runs.
TEST_P(AttentionTest, Bf16DecodeStepWithFewQueriesPerKvHeadStaysF32) {
  const AttentionParams p{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  check_bf16_attention(GetParam(), p, {{0, 1, 1001, true, 1000, {}, {}}}, 1, 17, false);
}

TEST_P(AttentionTest, Bf16QueriesWithoutVisibleKeysGetZeros) {
  const AttentionParams p{4, 1, 16, 0.25f};
  check_bf16_attention(GetParam(), p, {{2, 6, 6, true, -3, {}, {}}}, 10, 14);
}

// The pico presets: head_dim 16 (vision and LLM of pico) and 24 (pico-b's LLM: not a multiple
// of 16, so the f32 kernels compute it).
TEST_P(AttentionTest, Bf16PicoHeadDims16And24) {
  check_bf16_attention(GetParam(), {4, 2, 16, 0.25f}, {{0, 67, 70, true, 3, {}, {}}}, 67, 15);
  check_bf16_attention(GetParam(), {4, 2, 24, 1.0f / std::sqrt(24.0f)},
                       {{0, 33, 33, true, 0, {}, {}}}, 33, 16, false);
}

INSTANTIATE_TEST_SUITE_P(Paths, AttentionTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kAvx2,
                                           KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
