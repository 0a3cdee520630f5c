// Backend::attention against a double-precision reference: non-causal segments (vision),
// causal GQA with a KV-cache offset (LLM prefill and decode), long key ranges (many tiles).
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::KernelPath;
using Blocks = std::vector<testing::HostAttentionBlock>;

// q, k and v are strided column slices (testing::check_attention).
void check_attention(KernelPath path, const AttentionParams& p, Blocks blocks, int64_t rows,
                     uint32_t seed, double tolerance) {
  auto backend = testing::make_test_backend(path);
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

TEST_P(AttentionTest, HeadDimNotAMultipleOf16UsesThePortableKernel) {
  const AttentionParams p{3, 3, 24, 1.0f / std::sqrt(24.0f)};
  check_attention(GetParam(), p, {{0, 11, 11, false, 0, {}, {}}}, 11, 6, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Paths, AttentionTest,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
