// CUDA backend: attention against a double reference. Vision segments (non-causal, head_dim
// 80), causal GQA prefill after a cached prefix, decode over long caches (split key ranges and
// their combine step), batched decode of several sequences, queries that see no key, head
// dims that are not multiples of 32, strided q/k/v; rows outside the blocks stay untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor {
namespace {

using gpu_testing::CudaTest;
using gpu_testing::device_matrix;
using gpu_testing::expect_close;
using gpu_testing::host_values;
using gpu_testing::random_values;

struct HostBlock {
  int64_t q_begin, q_count, k_count;
  bool causal;
  int64_t offset;
  std::vector<float> k, v;  // [k_count, kv_heads * dim]
};

// out with the rows of the blocks computed in double; other rows keep `initial`.
std::vector<double> reference(const std::vector<float>& q, const std::vector<HostBlock>& blocks,
                              const AttentionParams& p, const std::vector<float>& initial) {
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  std::vector<double> out(initial.begin(), initial.end());
  for (const HostBlock& b : blocks) {
    for (int64_t i = 0; i < b.q_count; ++i) {
      const int64_t end =
          b.causal ? std::clamp<int64_t>(i + b.offset + 1, 0, b.k_count) : b.k_count;
      for (int h = 0; h < p.num_heads; ++h) {
        const int g = h / (p.num_heads / p.num_kv_heads);
        const float* qh = &q[(b.q_begin + i) * width + h * p.head_dim];
        std::vector<double> s(end);
        double max = -1e300;
        for (int64_t j = 0; j < end; ++j) {
          double dot = 0.0;
          for (int d = 0; d < p.head_dim; ++d) {
            dot += double(qh[d]) * b.k[j * kv_width + g * p.head_dim + d];
          }
          s[j] = dot * p.scale;
          max = std::max(max, s[j]);
        }
        double sum = 0.0;
        for (double& x : s) sum += (x = std::exp(x - max));
        for (int d = 0; d < p.head_dim; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < end; ++j) acc += s[j] * b.v[j * kv_width + g * p.head_dim + d];
          out[(b.q_begin + i) * width + h * p.head_dim + d] = end > 0 ? acc / sum : 0.0;
        }
      }
    }
  }
  return out;
}

class CudaAttention : public CudaTest {
 protected:
  // q is a column slice of a wider matrix; each block's k and v are column slices of one fused
  // [k_count, 2 * kv_width] matrix (the KV-cache-like layout, strided).
  void check(const AttentionParams& p, std::vector<HostBlock> blocks, int64_t rows,
             uint32_t seed, double tolerance = 1e-5) {
    const int64_t width = int64_t{p.num_heads} * p.head_dim;
    const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
    const auto q = random_values(rows * width, seed, -3.0f, 3.0f);
    const auto initial = random_values(rows * width, seed + 1);
    Tensor q_t = device_matrix(backend(), gpu_testing::padded(q, rows, width, 5, 0.0f), rows,
                               width + 5);
    Tensor out_t = device_matrix(backend(), initial, rows, width);
    std::vector<Tensor> kv;
    std::vector<AttentionBlock> device_blocks;
    uint32_t block_seed = seed + 100;
    for (HostBlock& b : blocks) {
      b.k = random_values(b.k_count * kv_width, block_seed++, -3.0f, 3.0f);
      b.v = random_values(b.k_count * kv_width, block_seed++);
      std::vector<float> fused(b.k_count * 2 * kv_width);
      for (int64_t j = 0; j < b.k_count; ++j) {
        std::copy_n(&b.k[j * kv_width], kv_width, &fused[j * 2 * kv_width]);
        std::copy_n(&b.v[j * kv_width], kv_width, &fused[j * 2 * kv_width + kv_width]);
      }
      kv.push_back(device_matrix(backend(), fused, std::max<int64_t>(b.k_count, 1), 2 * kv_width));
      const TensorView all = kv.back().view().rows_slice(0, b.k_count);
      device_blocks.push_back({b.q_begin, b.q_count, all.cols_slice(0, kv_width),
                               all.cols_slice(kv_width, kv_width), b.causal, b.offset});
    }
    backend().attention(out_t.view(), q_t.view().cols_slice(5, width), device_blocks, p);
    const Status s = backend().synchronize();
    ASSERT_TRUE(s.ok()) << s.to_string();
    expect_close(host_values(backend(), out_t.view()), reference(q, blocks, p, initial),
                 tolerance);
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
        {{0, 1, 700, true, 699, {}, {}}, {1, 1, 5, true, 4, {}, {}}, {2, 1, 1300, true, 1299, {}, {}}},
        3, 6);
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

}  // namespace
}  // namespace vcap::tensor
