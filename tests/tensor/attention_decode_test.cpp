// Backend::attention over a bf16 KV cache, as the bf16 model's decode steps call it. On the
// AVX-512 path of a CPU with AVX512_BF16 these blocks take the streaming decode kernel
// (tensor/cpu/attention_decode.h), its keys split into parts merged at the end; on the portable
// path the cache is widened for the f32 kernels. Both against the double reference on the same
// bf16 values.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::HostAttentionBlock;
using testing::KernelPath;

// A causal decode block: q_count query rows after `past` cached tokens.
HostAttentionBlock decode_block(int64_t q_begin, int64_t q_count, int64_t past) {
  return {q_begin, q_count, past + q_count, true, past, {}, {}};
}

void check_bf16_cache(KernelPath path, const AttentionParams& p,
                      std::vector<HostAttentionBlock> blocks, int64_t rows, uint32_t seed) {
  auto backend = testing::make_test_backend(path);
  testing::check_attention_bf16_products(*backend, p, std::move(blocks), rows, seed);
}

class AttentionBf16Cache : public ::testing::TestWithParam<KernelPath> {};

const AttentionParams kQwen2B{12, 2, 128, 1.0f / std::sqrt(128.0f)};

// 2,000 cached keys: split into parts on two threads; 2,000 is not a whole number of tiles.
TEST_P(AttentionBf16Cache, OneDecodeStepOverALongCacheMatchesReference) {
  check_bf16_cache(GetParam(), kQwen2B, {decode_block(0, 1, 1999)}, 1, 31);
}

// --bs 3: one block per sequence, caches of 1, 33 and 700 tokens.
TEST_P(AttentionBf16Cache, DecodeBatchOfUnequalCachesMatchesReference) {
  check_bf16_cache(GetParam(), kQwen2B,
                   {decode_block(0, 1, 0), decode_block(1, 1, 32), decode_block(2, 1, 699)}, 3, 32);
}

// Two new rows (12 lanes) whose causal ends differ by one key.
TEST_P(AttentionBf16Cache, TwoRowsWithDifferentCausalEndsMatchReference) {
  check_bf16_cache(GetParam(), kQwen2B, {decode_block(0, 2, 299)}, 2, 33);
}

// Eight query heads on one kv head (Qwen2-VL-72B's grouping), head_dim 64, an odd key count;
// and a query row that sees no key at all (causal offset -1) gives zeros.
TEST_P(AttentionBf16Cache, OtherHeadShapesAndAQueryWithoutKeysMatchReference) {
  const AttentionParams wide_group{8, 1, 64, 0.125f};
  check_bf16_cache(GetParam(), wide_group, {decode_block(0, 1, 514)}, 1, 34);
  check_bf16_cache(GetParam(), wide_group, {{0, 1, 5, true, -1, {}, {}}}, 1, 35);
}

INSTANTIATE_TEST_SUITE_P(Paths, AttentionBf16Cache,
                         ::testing::Values(KernelPath::kAvx512, KernelPath::kPortable),
                         testing::path_name);

}  // namespace
}  // namespace vcap::tensor
