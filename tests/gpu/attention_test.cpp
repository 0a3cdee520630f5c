// CUDA backend: attention against a double reference. Vision segments (non-causal, head_dim
// 80), causal GQA prefill after a cached prefix, decode over long caches (split key ranges and
// their merge, the same bits launch after launch), batched decode of several sequences, queries
// that see no key, head dims that are not multiples of 32, strided q/k/v, a bf16 KV cache; rows
// outside the blocks stay untouched. With bf16 products the tensor-core kernel (head_dim 64, 80,
// 128; its code is also run in the CPU tests' SIMT emulator) on the model's shapes, and the f32
// kernel for other head dims.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor::testing {
namespace {

using HostBlock = HostAttentionBlock;

class CudaAttention : public gpu_testing::CudaTest {
 protected:
  // q, k and v are strided column slices (check_attention).
  void check(const AttentionParams& p, std::vector<HostBlock> blocks, int64_t rows, uint32_t seed,
             double tolerance = 1e-5) {
    check_attention(backend(), p, std::move(blocks), rows, seed, tolerance);
  }
};

AttentionParams params(int heads, int kv_heads, int dim) {
  return {heads, kv_heads, dim, 1.0f / std::sqrt(static_cast<float>(dim))};
}

TEST_F(CudaAttention, VisionSegmentsAreIndependentAndBidirectional) {
  check(params(2, 2, 80), {{0, 37, 37, false, 0, {}, {}}, {37, 70, 70, false, 0, {}, {}}}, 107, 1);
}

TEST_F(CudaAttention, LongVisionSegmentSpansManyTiles) {
  check(params(2, 2, 80), {{0, 300, 300, false, 0, {}, {}}}, 300, 2);
}

TEST_F(CudaAttention, CausalGqaPrefillWithCachedPrefix) {
  // Two sequences: 20 new tokens after 13 cached, 9 new tokens with an empty cache.
  check(params(6, 2, 32), {{0, 20, 33, true, 13, {}, {}}, {20, 9, 9, true, 0, {}, {}}}, 29, 3);
}

TEST_F(CudaAttention, LongCausalPrefillAcrossTileBoundaries) {
  check(params(4, 1, 64), {{0, 150, 150, true, 0, {}, {}}}, 150, 4);
}

TEST_F(CudaAttention, DecodeStepOverALongCacheSplitsKeysAndCombines) {
  check(params(12, 2, 128), {{0, 1, 2500, true, 2499, {}, {}}}, 1, 5);
}

TEST_F(CudaAttention, BatchedDecodeOfSequencesWithDifferentCacheLengths) {
  check(params(12, 2, 128),
        {{0, 1, 700, true, 699, {}, {}},
         {1, 1, 5, true, 4, {}, {}},
         {2, 1, 1300, true, 1299, {}, {}}},
        3, 6);
}

// The bf16 model's KV cache is bf16: decode and a short prefill over bf16 keys and values.
TEST_F(CudaAttention, Bf16CacheDecodeAndPrefillMatchReference) {
  check_attention_bf16_products(backend(), params(12, 2, 128),
                                {{0, 1, 2500, true, 2499, {}, {}}, {1, 9, 40, true, 31, {}, {}}},
                                10, 8);
}

TEST_F(CudaAttention, TensorCoreKernelOnVisionSegmentsOverF32Activations) {
  // The 2B vision tower's shape: 16 heads of 80, segments of one temporal slice.
  check_attention_bf16_products(backend(), params(16, 16, 80),
                                {{0, 37, 37, false, 0, {}, {}}, {37, 300, 300, false, 0, {}, {}}},
                                337, 12, DType::kF32);
}

// The vision tower's attention reads a bf16 copy of k|v (the pipelined tile loads).
TEST_F(CudaAttention, TensorCoreKernelOnVisionSegmentsOverABf16Copy) {
  check_attention_bf16_products(backend(), params(16, 16, 80),
                                {{0, 37, 37, false, 0, {}, {}}, {37, 300, 300, false, 0, {}, {}}},
                                337, 16, DType::kBF16);
}

TEST_F(CudaAttention, TensorCoreKernelOnCausalGqaPrefillAfterACachedPrefix) {
  check_attention_bf16_products(backend(), params(6, 2, 64),
                                {{0, 100, 133, true, 33, {}, {}}, {100, 9, 9, true, 0, {}, {}}},
                                109, 13);
}

TEST_F(CudaAttention, TensorCoreKernelOnBatchedDecodeSplitIntoKeyParts) {
  check_attention_bf16_products(backend(), params(12, 2, 128),
                                {{0, 1, 3000, true, 2999, {}, {}},
                                 {1, 1, 5, true, 4, {}, {}},
                                 {2, 1, 1300, true, 1299, {}, {}}},
                                3, 14);
}

// Split key ranges are merged by the block that counts itself last on a counter each launch
// leaves at zero: ten launches queued back to back, then one more after a synchronize, write the
// same bits as the first (a counter left behind would skip or repeat a merge).
TEST_F(CudaAttention, RepeatedSplitDecodeWritesTheSameBitsEveryTime) {
  AttentionParams p = params(12, 2, 128);
  p.bf16_products = true;
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const int64_t keys = 3000;
  Tensor q = device_matrix(backend(), random_values(2 * width, 40, -3.0f, 3.0f), 2, width);
  Tensor f32 = device_matrix(backend(), random_values(keys * 2 * kv_width, 41, -3.0f, 3.0f), keys,
                             2 * kv_width);
  auto cache = backend().allocate(DType::kBF16, keys, 2 * kv_width);
  ASSERT_TRUE(cache.ok());
  backend().copy(cache->view(), f32.view());
  const TensorView all = cache->view();
  const std::vector<AttentionBlock> blocks = {
      {0, 1, all.cols_slice(0, kv_width), all.cols_slice(kv_width, kv_width), true, keys - 1},
      {1, 1, all.rows_slice(0, 700).cols_slice(0, kv_width),
       all.rows_slice(0, 700).cols_slice(kv_width, kv_width), true, 699}};
  std::vector<Tensor> outs;
  for (int i = 0; i < 11; ++i) {
    if (i == 10) {
      ASSERT_TRUE(backend().synchronize().ok());
    }
    outs.push_back(device_matrix(backend(), std::vector<float>(2 * width, NAN), 2, width));
    backend().attention(outs.back().view(), q.view(), blocks, p);
  }
  const std::vector<float> first = host_values(backend(), outs[0].view());
  for (const float x : first) ASSERT_FALSE(std::isnan(x));
  for (int i = 1; i < 11; ++i) EXPECT_EQ(host_values(backend(), outs[i].view()), first) << i;
}

TEST_F(CudaAttention, Bf16ProductsWithOtherHeadDimsTakeTheF32Kernel) {
  check_attention_bf16_products(backend(), params(4, 2, 40), {{0, 70, 90, true, 20, {}, {}}}, 70,
                                15, DType::kF32);
}

TEST_F(CudaAttention, QueriesWithoutVisibleKeysGetZerosAndOtherRowsAreUntouched) {
  // Offset -3: the first three queries see no key. Rows 0..1 and 8.. belong to no block.
  check(params(2, 1, 16), {{2, 6, 6, true, -3, {}, {}}}, 10, 7);
}

TEST_F(CudaAttention, HeadDimsThatAreNotMultiplesOf32) {
  check(params(3, 3, 24), {{0, 11, 11, false, 0, {}, {}}}, 11, 8);
  check(params(4, 2, 40), {{0, 70, 90, true, 20, {}, {}}}, 70, 9);
  check(params(1, 1, 6), {{0, 5, 5, false, 0, {}, {}}}, 5, 10);
}

TEST_F(CudaAttention, ManySmallBlocksAndAnEmptyOne) {
  std::vector<HostBlock> blocks;
  for (int64_t b = 0; b < 40; ++b) blocks.push_back({b * 3, 3, 3 + b, true, b, {}, {}});
  blocks.push_back({120, 0, 4, true, 4, {}, {}});
  check(params(2, 1, 32), blocks, 121, 11);
}

// No model reaches this (Qwen2VL::load asks check_attention first), but a caller that does gets
// the backend's recorded error at the next synchronize, as for any failed op, not an abort.
TEST_F(CudaAttention, HeadDimAbove128IsARecordedErrorNamingTheLimit) {
  const AttentionParams p = params(1, 1, 136);
  EXPECT_EQ(backend().check_attention(p).code(), StatusCode::kUnsupported);
  Tensor q = device_matrix(backend(), random_values(4 * 136, 1), 4, 136);
  Tensor k = device_matrix(backend(), random_values(4 * 136, 2), 4, 136);
  Tensor v = device_matrix(backend(), random_values(4 * 136, 3), 4, 136);
  Tensor out = device_matrix(backend(), std::vector<float>(4 * 136, 0.0f), 4, 136);
  const AttentionBlock block{0, 4, k.view(), v.view(), false, 0};
  backend().attention(out.view(), q.view(), {&block, 1}, p);
  const Status status = backend().synchronize();
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("head_dim 136 > 128"), std::string::npos) << status.to_string();
}

}  // namespace
}  // namespace vcap::tensor::testing
