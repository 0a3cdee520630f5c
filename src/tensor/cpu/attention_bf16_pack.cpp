#include <algorithm>
#include <cstring>

#include "tensor/cpu/attention_bf16.h"
#include "tensor/cpu/attention_bf16_pairs.h"

// Packing of a block's keys and values for the bf16 attention kernel (attention_bf16.h): once
// per block, before its tasks. Key rows become bf16 pairs of features, value rows pairs of keys
// (layout in attention_bf16.cpp); bf16 sources are copied bit for bit.
namespace vcap::tensor::cpu {
namespace {

// Keys 2 * pair and 2 * pair + 1 (second: whether it exists) of one kv head: key rows as bf16
// pairs of features, values as pairs of keys (layout in attention_bf16.cpp).
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_keys(
    TensorView k, int64_t j, bool second, int64_t column, int dim, uint32_t* out) {
  for (int64_t r = 0; r < (second ? 2 : 1); ++r) {
    if (k.dtype == DType::kBF16) {
      std::memcpy(out + r * dim / 2, k.row<uint16_t>(j + r) + column, dim * sizeof(uint16_t));
    } else {
      pack_bf16_row(k.row<float>(j + r) + column, dim, out + r * dim / 2);
    }
  }
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_values(
    TensorView v, int64_t j, bool second, int64_t column, int dim, uint32_t* out) {
  if (v.dtype == DType::kBF16) {
    // Already bf16: the pair's 32 bits are (v[j][d], v[j+1][d]), low half first.
    const uint16_t* a = v.row<uint16_t>(j) + column;
    const uint16_t* b = second ? v.row<uint16_t>(j + 1) + column : nullptr;
    for (int d = 0; d < dim; d += 16) {
      const __m512i low =
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + d)));
      const __m512i high =
          b ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + d)))
            : _mm512_setzero_si512();
      _mm512_store_si512(out + d, _mm512_or_si512(low, _mm512_slli_epi32(high, 16)));
    }
    return;
  }
  const float* a = v.row<float>(j) + column;
  const float* b = second ? v.row<float>(j + 1) + column : nullptr;
  for (int d = 0; d < dim; d += 16) {
    const __m512 bv = b ? _mm512_loadu_ps(b + d) : _mm512_setzero_ps();
    _mm512_store_si512(out + d, interleave_bf16(_mm512_loadu_ps(a + d), bv));
  }
}

}  // namespace

uint32_t* PackedWords::resize(size_t count) {
  if (count + 16 > capacity_) {
    capacity_ = count + 16;
    storage_ = std::make_unique_for_overwrite<uint32_t[]>(capacity_);
    const auto address = reinterpret_cast<uintptr_t>(storage_.get());
    start_ = storage_.get() + ((64 - address % 64) % 64) / sizeof(uint32_t);
  }
  return start_;
}

void resize_bf16_key_values(const AttentionBlock& block, const AttentionParams& params,
                            Bf16KeyValues& kv) {
  const int64_t k_count = block.k.rows;
  kv.key_rows = (k_count + kBf16KeyRowMultiple - 1) / kBf16KeyRowMultiple * kBf16KeyRowMultiple;
  kv.value_rows = (k_count + 1) / 2;
  const int64_t pairs = params.head_dim / 2;
  kv.keys.resize(params.num_kv_heads * kv.key_rows * pairs);
  kv.values.resize(params.num_kv_heads * kv.value_rows * params.head_dim);
  for (int g = 0; g < params.num_kv_heads; ++g) {
    uint32_t* keys = kv.keys.data() + g * kv.key_rows * pairs;
    std::fill(keys + k_count * pairs, keys + kv.key_rows * pairs, 0u);
  }
}

void pack_bf16_key_pair(const AttentionBlock& block, const AttentionParams& params, int64_t pair,
                        Bf16KeyValues& kv) {
  const int dim = params.head_dim;
  const int64_t j = 2 * pair;
  const bool second = j + 1 < block.k.rows;
  for (int g = 0; g < params.num_kv_heads; ++g) {
    const int64_t column = static_cast<int64_t>(g) * dim;
    pack_keys(block.k, j, second, column, dim, kv.keys.data() + (g * kv.key_rows + j) * (dim / 2));
    pack_values(block.v, j, second, column, dim,
                kv.values.data() + (g * kv.value_rows + pair) * dim);
  }
}

}  // namespace vcap::tensor::cpu
