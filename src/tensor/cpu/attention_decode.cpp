#include "tensor/cpu/attention_decode.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "tensor/cpu/attention_bf16_pairs.h"
#include "tensor/cpu/attention_lanes.h"
#include "tensor/cpu/simd_math.h"  // immintrin.h without GCC 12's spurious warnings

namespace vcap::tensor::cpu {
namespace {

// Layout: the (row, query head) pairs of one kv head ("lanes", at most 16) run along the lanes
// of one vector, as in attention_bf16.cpp, so the online softmax is vertical. The scores of a
// key are dot(qp rows, broadcast key pair) with qp[i][lane] = (q[lane][2i], q[lane][2i+1]). For
// P.V, unpacklo/hi of two value rows give the pairs (v[j][d], v[j+1][d]) for d = 8i + (0..3)
// and d = 8i + (4..7) of each 32-column chunk; accumulators keep that order until the merge.
constexpr int kLanes = 16;
constexpr int kTileKeys = 32;             // even: keys pair up inside a tile
constexpr int kScoreKeys = 4;             // keys per score register block
constexpr int64_t kMinKeysPerPart = 512;  // smaller parts cost more to merge than they save
constexpr int kMaxPairs = 128;            // head_dim <= 256
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Keys [key_begin, key_end) of one (block, kv head), with its softmax state as merge_parts
// reads it: max[16], sum[16], acc[16][head_dim] (chunk order above).
struct Part {
  int head = 0;  // index into the (block, kv head) list
  int64_t key_begin = 0;
  int64_t key_end = 0;
};

int64_t state_floats(int dim) { return 2 * kLanes + kLanes * static_cast<int64_t>(dim); }

// The per-tile working set of one part.
struct alignas(64) Tile {
  std::array<std::array<uint32_t, kLanes>, kMaxPairs> qp;
  std::array<std::array<float, kLanes>, kTileKeys> scores;
  std::array<std::array<uint32_t, kLanes>, kTileKeys / 2> pp;
  std::array<float, kLanes> rescale;
};

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_queries(
    const Lanes& lanes, int dim, Tile& t) {
  std::array<uint32_t, kMaxPairs> row;
  for (int l = 0; l < kLanes; ++l) {
    if (l < static_cast<int>(lanes.q.size())) {
      pack_bf16_row(lanes.q[l], dim, row.data());
    } else {
      row.fill(0);
    }
    for (int i = 0; i < dim / 2; ++i) t.qp[i][l] = row[i];
  }
}

// Scaled scores of keys [first, first + count) (-inf where a lane may not see the key), and
// their max per lane.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] __m512 score_tile(
    const AttentionBlock& block, int64_t column, int pairs, int64_t first, int count,
    const __m512i end, float scale, Tile& t) {
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  __m512 tile_max = minus_inf;
  for (int j = 0; j < count; j += kScoreKeys) {
    const uint32_t* keys[kScoreKeys];
    for (int s = 0; s < kScoreKeys; ++s) {
      const int64_t key = first + std::min(j + s, count - 1);  // past count: masked below
      keys[s] = reinterpret_cast<const uint32_t*>(block.k.row<uint16_t>(key) + column);
    }
    __m512 acc[kScoreKeys];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    for (int i = 0; i < pairs; ++i) {
      const auto q = reinterpret_cast<__m512bh>(_mm512_load_si512(t.qp[i].data()));
      for (int s = 0; s < kScoreKeys; ++s) {
        const auto k = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(keys[s][i])));
        acc[s] = _mm512_dpbf16_ps(acc[s], q, k);
      }
    }
    for (int s = 0; s < kScoreKeys && j + s < count; ++s) {
      const __mmask16 visible =
          _mm512_cmplt_epi32_mask(_mm512_set1_epi32(static_cast<int>(first + j + s)), end);
      const __m512 x = _mm512_mask_mul_ps(minus_inf, visible, acc[s], _mm512_set1_ps(scale));
      _mm512_store_ps(t.scores[j + s].data(), x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
  }
  return tile_max;
}

// score_tile for at most 8 lanes: the products on 256-bit vectors, which Zen 4 issues twice as
// often as 512-bit ones (a decode step of Qwen2-VL has 6-8 query heads per kv head); the upper
// 8 lanes of each score row are -inf.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] __m512 score_tile_narrow(
    const AttentionBlock& block, int64_t column, int pairs, int64_t first, int count,
    const __m512i end, float scale, Tile& t) {
  constexpr int kKeys = 8;
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  __m512 tile_max = minus_inf;
  for (int j = 0; j < count; j += kKeys) {
    const uint32_t* keys[kKeys];
    for (int s = 0; s < kKeys; ++s) {
      const int64_t key = first + std::min(j + s, count - 1);  // past count: masked below
      keys[s] = reinterpret_cast<const uint32_t*>(block.k.row<uint16_t>(key) + column);
    }
    __m256 acc[kKeys];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int i = 0; i < pairs; ++i) {
      const auto q = reinterpret_cast<__m256bh>(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(t.qp[i].data())));
      for (int s = 0; s < kKeys; ++s) {
        const auto k = reinterpret_cast<__m256bh>(_mm256_set1_epi32(static_cast<int>(keys[s][i])));
        acc[s] = _mm256_dpbf16_ps(acc[s], q, k);
      }
    }
    for (int s = 0; s < kKeys && j + s < count; ++s) {
      const __mmask16 visible =
          _mm512_cmplt_epi32_mask(_mm512_set1_epi32(static_cast<int>(first + j + s)), end);
      const __m512 wide = _mm512_insertf32x8(minus_inf, acc[s], 0);
      const __m512 x = _mm512_mask_mul_ps(minus_inf, visible, wide, _mm512_set1_ps(scale));
      _mm512_store_ps(t.scores[j + s].data(), x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
  }
  return tile_max;
}

// The online-softmax step of one tile: p = exp(score - max) into t.pp as bf16 pairs of keys,
// the running max and sum updated, t.rescale = exp(old max - new max) (1 where unchanged).
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void softmax_tile(
    int count, __m512 tile_max, __m512& max, __m512& sum, Tile& t) {
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  const __m512 new_max = _mm512_max_ps(max, tile_max);
  const __mmask16 seen = _mm512_cmp_ps_mask(new_max, minus_inf, _CMP_NEQ_OQ);
  const __mmask16 had = _mm512_cmp_ps_mask(max, minus_inf, _CMP_NEQ_OQ);
  const __mmask16 same = _mm512_cmp_ps_mask(max, new_max, _CMP_EQ_OQ);
  __m512 rescale = _mm512_maskz_mov_ps(had, simd::exp512(_mm512_sub_ps(max, new_max)));
  rescale = _mm512_mask_mov_ps(rescale, same, _mm512_set1_ps(1.0f));
  const __m512 base = _mm512_maskz_mov_ps(seen, new_max);
  __m512 total = _mm512_setzero_ps();
  for (int j = 0; j < count; j += 2) {
    __m512 p[2];
    for (int s = 0; s < 2; ++s) {
      if (j + s >= count) {
        p[s] = _mm512_setzero_ps();
        continue;
      }
      const __m512 x = _mm512_load_ps(t.scores[j + s].data());
      const __mmask16 finite = _mm512_cmp_ps_mask(x, minus_inf, _CMP_NEQ_OQ) & seen;
      p[s] = _mm512_maskz_mov_ps(finite, simd::exp512(_mm512_sub_ps(x, base)));
    }
    total = _mm512_add_ps(total, _mm512_add_ps(p[0], p[1]));
    _mm512_store_si512(t.pp[j / 2].data(), interleave_bf16(p[0], p[1]));
  }
  sum = _mm512_fmadd_ps(sum, rescale, total);
  max = new_max;
  _mm512_store_ps(t.rescale.data(), rescale);
}

// acc[l][chunk] = acc * rescale[l] + sum over the tile's key pairs of p . v for the 32 columns
// [c0, c0 + 32) and L lanes (accumulators in registers for the whole tile).
template <int L>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void accumulate_chunk(
    const AttentionBlock& block, int64_t column, int64_t first, int count, int dim, int c0,
    bool rescale, const Tile& t, float* acc) {
  __m512 lo[L];
  __m512 hi[L];
  for (int l = 0; l < L; ++l) {
    lo[l] = _mm512_loadu_ps(acc + l * dim + c0);
    hi[l] = _mm512_loadu_ps(acc + l * dim + c0 + 16);
    if (rescale) {
      const __m512 r = _mm512_set1_ps(t.rescale[l]);
      lo[l] = _mm512_mul_ps(lo[l], r);
      hi[l] = _mm512_mul_ps(hi[l], r);
    }
  }
  for (int j = 0; j < count; j += 2) {
    // A missing second key (odd count) reuses the first row: its p is 0.
    const uint16_t* v0 = block.v.row<uint16_t>(first + j) + column + c0;
    const uint16_t* v1 = block.v.row<uint16_t>(first + std::min(j + 1, count - 1)) + column + c0;
    const __m512i a = _mm512_loadu_si512(v0);
    const __m512i b = _mm512_loadu_si512(v1);
    const auto v_lo = reinterpret_cast<__m512bh>(_mm512_unpacklo_epi16(a, b));
    const auto v_hi = reinterpret_cast<__m512bh>(_mm512_unpackhi_epi16(a, b));
    for (int l = 0; l < L; ++l) {
      const auto p =
          reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(t.pp[j / 2][l])));
      lo[l] = _mm512_dpbf16_ps(lo[l], v_lo, p);
      hi[l] = _mm512_dpbf16_ps(hi[l], v_hi, p);
    }
  }
  for (int l = 0; l < L; ++l) {
    _mm512_storeu_ps(acc + l * dim + c0, lo[l]);
    _mm512_storeu_ps(acc + l * dim + c0 + 16, hi[l]);
  }
}

using ChunkFunction = void (*)(const AttentionBlock&, int64_t, int64_t, int, int, int, bool,
                               const Tile&, float*);

template <size_t... L>
constexpr std::array<ChunkFunction, sizeof...(L)> chunk_functions(std::index_sequence<L...>) {
  return {accumulate_chunk<static_cast<int>(L) + 1>...};
}

constexpr std::array<ChunkFunction, kLanes> kChunkFunctions =
    chunk_functions(std::make_index_sequence<kLanes>());

// Runs one part; writes its state (see Part) to `state`.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void run_part(
    const Lanes& lanes, const AttentionBlock& block, int kv_head, const Part& part,
    const AttentionParams& params, float* state) {
  const int dim = params.head_dim;
  const int64_t column = static_cast<int64_t>(kv_head) * dim;
  Tile t;
  pack_queries(lanes, dim, t);
  float* acc = state + 2 * kLanes;
  std::fill(acc, acc + kLanes * static_cast<int64_t>(dim), 0.0f);
  const int count_lanes = static_cast<int>(lanes.q.size());
  std::array<int32_t, kLanes> ends{};  // 0 for padding lanes: they see no key
  for (int l = 0; l < count_lanes; ++l) ends[l] = static_cast<int32_t>(lanes.end[l]);
  const __m512i end = _mm512_loadu_si512(ends.data());
  const ChunkFunction accumulate = kChunkFunctions[count_lanes - 1];
  __m512 max = _mm512_set1_ps(kMinusInf);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t first = part.key_begin; first < part.key_end; first += kTileKeys) {
    const int count = static_cast<int>(std::min<int64_t>(kTileKeys, part.key_end - first));
    const __m512 tile_max =
        count_lanes <= 8
            ? score_tile_narrow(block, column, dim / 2, first, count, end, params.scale, t)
            : score_tile(block, column, dim / 2, first, count, end, params.scale, t);
    softmax_tile(count, tile_max, max, sum, t);
    const bool rescale = _mm512_cmp_ps_mask(_mm512_load_ps(t.rescale.data()), _mm512_set1_ps(1.0f),
                                            _CMP_NEQ_OQ) != 0;
    for (int c0 = 0; c0 < dim; c0 += 32) {
      accumulate(block, column, first, count, dim, c0, rescale, t, acc);
    }
  }
  _mm512_storeu_ps(state, max);
  _mm512_storeu_ps(state + kLanes, sum);
}

// Column d of a head's output sits at this index of an accumulator row (chunk order above).
int accumulator_index(int d) {
  const int chunk = d / 32 * 32;
  const int r = d % 32;
  return chunk + (r % 8 < 4 ? 0 : 16) + r / 8 * 4 + r % 4;
}

// out = the softmax-weighted merge of the parts' states of one (block, kv head).
void merge_parts(const Lanes& lanes, const float* states, int parts, int dim) {
  const int64_t stride = state_floats(dim);
  const auto lane_count = static_cast<int64_t>(lanes.q.size());
  for (int64_t l = 0; l < lane_count; ++l) {
    float top = kMinusInf;
    for (int p = 0; p < parts; ++p) top = std::max(top, states[p * stride + l]);
    std::array<float, 64> weight{};  // parts per head are capped below 64
    float total = 0.0f;
    for (int p = 0; p < parts; ++p) {
      const float max = states[p * stride + l];
      weight[p] = max == kMinusInf ? 0.0f : std::exp(max - top);
      total += weight[p] * states[p * stride + kLanes + l];
    }
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    for (int d = 0; d < dim; ++d) {
      const int index = accumulator_index(d);
      float value = 0.0f;
      for (int p = 0; p < parts; ++p) {
        value += weight[p] * states[p * stride + 2 * kLanes + l * dim + index];
      }
      lanes.out[l][d] = value * inverse;
    }
  }
}

}  // namespace

bool attention_decode_supports(const AttentionBlock& block, const AttentionParams& params) {
  const int group = params.num_heads / params.num_kv_heads;
  return block.k.dtype == DType::kBF16 && block.v.dtype == DType::kBF16 &&
         params.head_dim % 32 == 0 && params.head_dim <= 2 * kMaxPairs &&
         block.q_count * group <= kLanes;
}

void attention_decode(const CpuContext& context, TensorView out, TensorView q,
                      std::span<const AttentionBlock> blocks, const AttentionParams& params) {
  // Every (block, kv head) and its keys, cut into parts so that all threads have work even for
  // one sequence (a few parts per thread for balance), but never into tiny parts.
  std::vector<Lanes> heads;
  std::vector<const AttentionBlock*> head_blocks;
  for (const AttentionBlock& block : blocks) {
    for (int g = 0; g < params.num_kv_heads; ++g) {
      heads.push_back(make_lanes(out, q, block, g, 0, block.q_count, params));
      head_blocks.push_back(&block);
    }
  }
  const auto head_count = static_cast<int64_t>(heads.size());
  const int64_t wanted = (4 * context.threads + head_count - 1) / head_count;
  std::vector<Part> parts;
  std::vector<int> first_part(head_count + 1, 0);
  for (int64_t h = 0; h < head_count; ++h) {
    const int64_t keys = heads[h].max_end;
    const int64_t count = std::clamp<int64_t>(std::min(wanted, keys / kMinKeysPerPart), 1, 63);
    const int64_t per_part = (keys + count - 1) / count;
    for (int64_t begin = 0; begin < keys; begin += per_part) {
      parts.push_back({static_cast<int>(h), begin, std::min(keys, begin + per_part)});
    }
    first_part[h + 1] = static_cast<int>(parts.size());
  }
  const int dim = params.head_dim;
  std::vector<float> states(parts.size() * state_floats(dim));
  const auto part_count = static_cast<int64_t>(parts.size());
#pragma omp parallel num_threads(context.threads)
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < part_count; ++i) {
      const Part& part = parts[i];
      run_part(heads[part.head], *head_blocks[part.head],
               static_cast<int>(part.head % params.num_kv_heads), part, params,
               states.data() + i * state_floats(dim));
    }
#pragma omp for schedule(static)
    for (int64_t h = 0; h < head_count; ++h) {
      merge_parts(heads[h], states.data() + first_part[h] * state_floats(dim),
                  first_part[h + 1] - first_part[h], dim);
    }
  }
}

}  // namespace vcap::tensor::cpu
