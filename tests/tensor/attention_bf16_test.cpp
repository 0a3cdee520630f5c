// The bf16 attention kernel (tensor/cpu/attention_bf16.h) called directly, task by task as
// attention.cpp does: sequences long enough for key tiles that every query sees whole (the
// unmasked path) next to causal diagonal tiles, running maxima that move in every tile or
// never after the first, and K/V given as bf16 instead of f32 (the bf16 KV cache, the vision
// tower's bf16 copy of k|v). Skipped on CPUs without AVX512_BF16.
#include "tensor/cpu/attention_bf16.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "reference_ops.h"
#include "tensor/cpu/cpu_context.h"
#include "tensor/dtype.h"
#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

struct Case {
  AttentionParams params;
  int64_t rows = 0;  // queries
  bool causal = false;
  int64_t offset = 0;         // keys - rows; causal: query i sees keys j <= i + offset
  int64_t rows_per_task = 0;  // query rows per kernel call (lanes = rows * query heads per kv)
};

int64_t width(const AttentionParams& p) { return int64_t{p.num_heads} * p.head_dim; }
int64_t kv_width(const AttentionParams& p) { return int64_t{p.num_kv_heads} * p.head_dim; }

// K or V as a strided view (4 spare columns per row) of the given dtype.
struct KvStorage {
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  TensorView view;
};

KvStorage make_kv(const std::vector<float>& values, int64_t rows, int64_t cols, DType dtype) {
  KvStorage s;
  const int64_t stride = cols + 4;
  if (dtype == DType::kBF16) {
    s.bf16.assign(rows * stride, 0xffff);  // NaN padding: must never be read
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) s.bf16[r * stride + c] = f32_to_bf16(values[r * cols + c]);
    }
    s.view = {reinterpret_cast<std::byte*>(s.bf16.data()), dtype, rows, cols, stride};
  } else {
    s.f32.assign(rows * stride, std::nanf(""));
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(&values[r * cols], cols, &s.f32[r * stride]);
    }
    s.view = {reinterpret_cast<std::byte*>(s.f32.data()), dtype, rows, cols, stride};
  }
  return s;
}

// Runs the kernel on every (kv head, rows_per_task rows) task of one block, as attention.cpp.
std::vector<float> run_kernel(const Case& c, const std::vector<float>& q,
                              const AttentionBlock& block) {
  const AttentionParams& p = c.params;
  cpu::Bf16KeyValues kv;
  cpu::resize_bf16_key_values(block, p, kv);
  for (int64_t pair = 0; pair < kv.value_rows; ++pair) cpu::pack_bf16_key_pair(block, p, pair, kv);
  std::vector<float> out(c.rows * width(p), 0.0f);
  cpu::AttentionBf16Scratch scratch;
  const int group = p.num_heads / p.num_kv_heads;
  for (int g = 0; g < p.num_kv_heads; ++g) {
    for (int64_t r0 = 0; r0 < c.rows; r0 += c.rows_per_task) {
      std::vector<const float*> q_lanes;
      std::vector<float*> out_lanes;
      std::vector<int64_t> end;
      for (int64_t i = r0; i < std::min(c.rows, r0 + c.rows_per_task); ++i) {
        for (int e = 0; e < group; ++e) {
          const int64_t column = int64_t{g * group + e} * p.head_dim;
          q_lanes.push_back(&q[i * width(p) + column]);
          out_lanes.push_back(&out[i * width(p) + column]);
          end.push_back(c.causal ? std::clamp<int64_t>(i + c.offset + 1, 0, block.k.rows)
                                 : block.k.rows);
        }
      }
      cpu::attention_task_bf16(q_lanes.data(), out_lanes.data(), end.data(),
                               static_cast<int64_t>(end.size()),
                               *std::max_element(end.begin(), end.end()), kv, g, p, scratch);
    }
  }
  return out;
}

struct Inputs {
  std::vector<float> q, k, v;  // already bf16 values
};

Inputs random_inputs(const Case& c, uint32_t seed) {
  const int64_t keys = c.rows + c.offset;
  return {
      testing::rounded_to_bf16(testing::random_values(c.rows * width(c.params), seed, -3.0f, 3.0f)),
      testing::rounded_to_bf16(
          testing::random_values(keys * kv_width(c.params), seed + 1, -3.0f, 3.0f)),
      testing::rounded_to_bf16(testing::random_values(keys * kv_width(c.params), seed + 2))};
}

// The kernel with K/V of `dtype` against the double reference on the same (bf16) values.
std::vector<float> check_against_reference(const Case& c, const Inputs& in, DType dtype) {
  const int64_t keys = c.rows + c.offset;
  const KvStorage k = make_kv(in.k, keys, kv_width(c.params), dtype);
  const KvStorage v = make_kv(in.v, keys, kv_width(c.params), dtype);
  const AttentionBlock block{0, c.rows, k.view, v.view, c.causal, c.offset};
  const std::vector<float> out = run_kernel(c, in.q, block);
  const testing::HostAttentionBlock host{0, c.rows, keys, c.causal, c.offset, in.k, in.v};
  testing::expect_close(
      out,
      testing::reference_attention(in.q, {host}, c.params, std::vector<float>(out.size(), 0.0f)),
      testing::kBf16AttentionTolerance);
  return out;
}

class AttentionBf16Kernel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cpu::cpu_has_avx512_bf16()) GTEST_SKIP() << "the CPU has no AVX512_BF16";
  }
};

// Qwen2-VL-2B's LLM heads; 10 rows per task = 60 lanes (4 padding lanes). 300 keys: whole tiles
// for the later rows, causal diagonal tiles, an odd last tile for some tasks.
const Case kCausalGqa{{12, 2, 128, 1.0f / std::sqrt(128.0f)}, 263, true, 37, 10};
// A vision segment: every tile whole except the last (301 keys: 45 in the last tile).
const Case kBidirectional{{4, 4, 80, 1.0f / std::sqrt(80.0f)}, 301, false, 0, 64};

TEST_F(AttentionBf16Kernel, CausalGqaMatchesReferenceOverWholeAndDiagonalTiles) {
  check_against_reference(kCausalGqa, random_inputs(kCausalGqa, 21), DType::kF32);
}

TEST_F(AttentionBf16Kernel, BidirectionalMatchesReferenceOverWholeTilesAndAnOddLastOne) {
  check_against_reference(kBidirectional, random_inputs(kBidirectional, 22), DType::kF32);
}

// bf16 K/V are copied, not rounded: the same values given as f32 or bf16 give the same bits.
TEST_F(AttentionBf16Kernel, Bf16KeysAndValuesGiveTheOutputsOfTheirF32Values) {
  for (const Case& c : {kCausalGqa, kBidirectional}) {
    const Inputs in = random_inputs(c, 23);
    const std::vector<float> from_f32 = check_against_reference(c, in, DType::kF32);
    const std::vector<float> from_bf16 = check_against_reference(c, in, DType::kBF16);
    EXPECT_EQ(from_f32, from_bf16);
  }
}

// What the bf16 model's vision tower relies on when it hands the attention a bf16 copy of its
// f32 k|v (model/vision_encoder.cpp): f32 K/V that are not bf16 values give the bits of their
// copies rounded to nearest even.
TEST_F(AttentionBf16Kernel, F32KeysAndValuesGiveTheOutputsOfTheirRoundedBf16Copies) {
  for (const Case& c : {kCausalGqa, kBidirectional}) {
    Inputs in = random_inputs(c, 24);
    const int64_t keys = c.rows + c.offset;
    in.k = testing::random_values(keys * kv_width(c.params), 25, -3.0f, 3.0f);
    in.v = testing::random_values(keys * kv_width(c.params), 26);
    ASSERT_NE(testing::rounded_to_bf16(in.k), in.k) << "the keys must not be bf16 values already";
    const auto run = [&](DType dtype) {
      const KvStorage k = make_kv(in.k, keys, kv_width(c.params), dtype);
      const KvStorage v = make_kv(in.v, keys, kv_width(c.params), dtype);
      return run_kernel(c, in.q, {0, c.rows, k.view, v.view, c.causal, c.offset});
    };
    EXPECT_EQ(run(DType::kF32), run(DType::kBF16));
  }
}

// Scores that grow with the key index (by ~30 over the 464 keys): every tile raises every
// query's max, so the accumulators are rescaled each time. Falling scores: the first tile holds
// every max and the later tiles leave the accumulators as they are.
TEST_F(AttentionBf16Kernel, MatchesReferenceWhenTheMaxMovesInEveryTileOrNeverAgain) {
  const Case c{{2, 1, 64, 0.125f}, 64, false, 400, 16};
  for (const float slope : {1.0f, -1.0f}) {
    Inputs in = random_inputs(c, 24);
    const int64_t keys = c.rows + c.offset;
    for (int64_t j = 0; j < keys; ++j) {
      const float trend = slope * 2.0f * static_cast<float>(j) / static_cast<float>(keys);
      for (int d = 0; d < c.params.head_dim; ++d) {
        in.k[j * kv_width(c.params) + d] = bf16_to_f32(f32_to_bf16(trend + 0.1f * (d % 3)));
      }
    }
    for (float& x : in.q) x = std::fabs(x) + 0.5f;  // positive: q.k follows the trend
    in.q = testing::rounded_to_bf16(in.q);
    check_against_reference(c, in, DType::kBF16);
  }
}

}  // namespace
}  // namespace vcap::tensor
