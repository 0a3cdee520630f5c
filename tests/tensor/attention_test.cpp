// Backend::attention against a double-precision reference: non-causal segments (vision),
// causal GQA with a KV-cache offset (LLM prefill and decode), long key ranges (many tiles).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;

// A host copy of one block's inputs (all row-major, f32).
struct HostBlock {
  int64_t q_begin, q_count, k_count;
  bool causal;
  int64_t offset;
  std::vector<float> k, v;  // [k_count, kv_heads * dim]
};

// out rows of the blocks, computed in double; rows outside any block keep `initial`.
std::vector<double> reference(const std::vector<float>& q, const std::vector<HostBlock>& blocks,
                              const AttentionParams& p, int64_t rows,
                              const std::vector<float>& initial) {
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
          for (int d = 0; d < p.head_dim; ++d)
            dot += double(qh[d]) * b.k[j * kv_width + g * p.head_dim + d];
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
  (void)rows;
  return out;
}

// Runs attention with q, k and v stored as column slices of one fused [rows, q|k|v] matrix per
// block when `fused` (the vision layout), else with separate k/v tensors (a KV cache).
void check_attention(KernelPath path, const AttentionParams& p, std::vector<HostBlock> blocks,
                     int64_t rows, uint32_t seed, double tolerance) {
  auto backend = testing::make_test_backend(path);
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const auto q = testing::random_values(rows * width, seed, -3.0f, 3.0f);
  const auto initial = testing::random_values(rows * width, seed + 1);
  // q lives in a wider matrix so that it is a strided view.
  std::vector<float> q_wide(rows * (width + 5));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(&q[r * width], width, &q_wide[r * (width + 5) + 5]);
  }
  Tensor q_t = testing::device_matrix(*backend, q_wide, rows, width + 5);
  Tensor out_t = testing::device_matrix(*backend, initial, rows, width);
  std::vector<Tensor> kv;  // per block: [k_count, 2 * kv_width], k | v
  std::vector<AttentionBlock> device_blocks;
  uint32_t block_seed = seed + 100;
  for (HostBlock& b : blocks) {
    b.k = testing::random_values(b.k_count * kv_width, block_seed++, -3.0f, 3.0f);
    b.v = testing::random_values(b.k_count * kv_width, block_seed++);
    std::vector<float> fused(b.k_count * 2 * kv_width);
    for (int64_t j = 0; j < b.k_count; ++j) {
      std::copy_n(&b.k[j * kv_width], kv_width, &fused[j * 2 * kv_width]);
      std::copy_n(&b.v[j * kv_width], kv_width, &fused[j * 2 * kv_width + kv_width]);
    }
    kv.push_back(testing::device_matrix(*backend, fused, b.k_count, 2 * kv_width));
    device_blocks.push_back({b.q_begin, b.q_count, kv.back().view().cols_slice(0, kv_width),
                             kv.back().view().cols_slice(kv_width, kv_width), b.causal, b.offset});
  }
  backend->attention(out_t.view(), q_t.view().cols_slice(5, width), device_blocks, p);
  testing::expect_close(testing::host_values(*backend, out_t.view()),
                        reference(q, blocks, p, rows, initial), tolerance);
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

TEST_P(AttentionTest, HeadDimNotAMultipleOf16UsesThePortableKernel) {
  const AttentionParams p{3, 3, 24, 1.0f / std::sqrt(24.0f)};
  check_attention(GetParam(), p, {{0, 11, 11, false, 0, {}, {}}}, 11, 6, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Paths, AttentionTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
