#include "tensor/cpu/attention_bf16.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "tensor/cpu/attention_bf16_pairs.h"

namespace vcap::tensor::cpu {
namespace {

// Layout (as in attention_avx512.cpp): the task's queries ("lanes") run along the 16 lanes of a
// vector and the online softmax is vertical. vdpbf16ps multiplies pairs of bf16 values, so each
// operand is packed as 32-bit pairs along the dimension being summed:
//  - Q.K^T sums over head_dim: qp[d/2][lane] = (q[lane][d], q[lane][d+1]) once per task, and
//    kp[key][d/2] = (k[key][d], k[key][d+1]) (a plain conversion of each key row); score
//    vectors are dot(qp row, broadcast kp pair).
//  - P.V sums over keys: pp[key/2][lane] = (p[key][lane], p[key+1][lane]) per key tile and
//    vp[key/2][d] = (v[key][d], v[key+1][d]); acc[lane][d..d+16) accumulates
//    dot(broadcast pp pair, vp row).
// kp and vp (Bf16KeyValues) are packed once per block and kv head, before the tasks: packing
// per task would convert every key again for each tile of query rows.
//
// Each key tile takes three passes: scores (raw q.k, their max per query on the fly), softmax
// (p = 2^(s * scale * log2 e - max), written straight as bf16 pairs, and the running sum) and
// P.V. Tiles that every query sees whole (all but the causal diagonal ones) skip the masks.
constexpr int kTileKeys = 128;  // keys per tile; a multiple of kScoreKeys (and even)
constexpr int kScoreKeys = kBf16KeyRowMultiple;  // keys per score register block
constexpr int kScoreLanes = 4;                   // lane vectors per score register block
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.44269504088896341f;

struct Scratch {
  // f32 (64-byte aligned)
  float* st;        // [kTileKeys][lp]      raw scores q.k of the current key tile
  float* max;       // [lp]                 running max of raw scores per query
  float* sum;       // [lp]                 running sum of p per query
  float* rescale;   // [lp]                 acc factor of the current tile (exactly 1: none)
  float* tile_max;  // [lp]                 max raw score per query over the current tile
  float* acc;       // [lanes][dim]         unnormalised outputs
  // bf16 pairs (64-byte aligned)
  uint32_t* qp;  // [dim/2][lp]
  uint32_t* pp;  // [kTileKeys/2][lp] (at least [lp][dim/2])
  int32_t* end;  // [lp]                   keys [0, end) visible per query
};

// The 64-byte aligned start of a vector sized with 16 spare elements.
template <typename T>
T* aligned_data(std::vector<T>& storage) {
  const auto address = reinterpret_cast<uintptr_t>(storage.data());
  return storage.data() + ((64 - address % 64) % 64) / sizeof(T);
}

// `storage` grown to hold `count` elements from its aligned start, which is returned.
template <typename T>
T* aligned_start(std::vector<T>& storage, size_t count) {
  if (storage.size() < count + 16) storage.resize(count + 16);
  return aligned_data(storage);
}

Scratch carve(AttentionBf16Scratch& storage, int64_t lanes, int64_t lp, int dim) {
  const int64_t pairs = dim / 2;
  Scratch s;
  s.st = aligned_start(storage.values, kTileKeys * lp + 4 * lp + lanes * dim);
  s.max = s.st + kTileKeys * lp;
  s.sum = s.max + lp;
  s.rescale = s.sum + lp;
  s.tile_max = s.rescale + lp;
  s.acc = s.tile_max + lp;
  // pp also holds the query rows while they are packed (pack_queries).
  const int64_t pp_rows = std::max<int64_t>(kTileKeys / 2, pairs);
  s.qp = aligned_start(storage.packed, pairs * lp + pp_rows * lp + lp);
  s.pp = s.qp + pairs * lp;
  s.end = reinterpret_cast<int32_t*>(s.pp + pp_rows * lp);
  return s;
}

// qp from the task's query rows. The rows are scattered in memory (one head of each row): they
// are converted lane by lane into `rows` [lp][dim/2] with the next lanes' lines prefetched,
// then transposed from L1.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_queries(
    const Scratch& s, const float* const* q, int64_t lanes, int64_t lp, int dim) {
  constexpr int kAhead = 4;  // lanes
  const int pairs = dim / 2;
  uint32_t* rows = s.pp;  // free until the first softmax
  for (int64_t l = 0; l < lanes; ++l) {
    if (l + kAhead < lanes) {
      for (int d = 0; d < dim; d += 16) _mm_prefetch(q[l + kAhead] + d, _MM_HINT_T0);
    }
    pack_bf16_row(q[l], dim, rows + l * pairs);
  }
  std::fill(rows + lanes * pairs, rows + lp * pairs, 0u);
  const __m512i column =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(pairs));
  for (int64_t l0 = 0; l0 < lp; l0 += 16) {
    const uint32_t* block = rows + l0 * pairs;
    for (int i = 0; i < pairs; ++i) {
      _mm512_store_si512(s.qp + i * lp + l0, _mm512_i32gather_epi32(column, block + i, 4));
    }
  }
}

// Raw scores q.k of keys [0, count) of the tile starting at block key first_key, whose packed
// keys start at tile_kp (count rounded up to kScoreKeys rows are read), for LV lane vectors
// from v0: st[key][lane] and their max per lane in s.tile_max. kMasked: keys a query may not
// see become -inf (needed unless every lane sees the whole tile and count % kScoreKeys == 0).
template <int LV, bool kMasked>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void score_lanes(
    const Scratch& s, const uint32_t* tile_kp, int64_t first_key, int64_t count, int pairs,
    int64_t lp, int64_t v0) {
  const uint32_t* qp = s.qp + 16 * v0;
  float* st = s.st + 16 * v0;
  __m512 tile_max[LV];
  __m512i end[LV];
#pragma GCC unroll 4
  for (int v = 0; v < LV; ++v) {
    tile_max[v] = _mm512_set1_ps(kMinusInf);
    end[v] = kMasked ? _mm512_load_si512(s.end + 16 * (v0 + v)) : _mm512_setzero_si512();
  }
  for (int64_t j = 0; j < count; j += kScoreKeys) {
    const uint32_t* kp = tile_kp + j * pairs;
    __m512 acc[kScoreKeys][LV];
#pragma GCC unroll 16
    for (int r = 0; r < kScoreKeys * LV; ++r) acc[r / LV][r % LV] = _mm512_setzero_ps();
    for (int i = 0; i < pairs; ++i) {
      __m512bh q[LV];
#pragma GCC unroll 4
      for (int v = 0; v < LV; ++v) {
        q[v] = reinterpret_cast<__m512bh>(_mm512_load_si512(qp + i * lp + 16 * v));
      }
#pragma GCC unroll 4
      for (int k = 0; k < kScoreKeys; ++k) {
        const __m512bh key =
            reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int32_t>(kp[k * pairs + i])));
#pragma GCC unroll 4
        for (int v = 0; v < LV; ++v) acc[k][v] = _mm512_dpbf16_ps(acc[k][v], q[v], key);
      }
    }
#pragma GCC unroll 4
    for (int k = 0; k < kScoreKeys; ++k) {
#pragma GCC unroll 4
      for (int v = 0; v < LV; ++v) {
        __m512 x = acc[k][v];
        if constexpr (kMasked) {
          const auto key = static_cast<int32_t>(first_key + j + k);
          const __mmask16 visible = _mm512_cmplt_epi32_mask(_mm512_set1_epi32(key), end[v]);
          x = _mm512_mask_mov_ps(_mm512_set1_ps(kMinusInf), visible, x);
        }
        _mm512_store_ps(st + (j + k) * lp + 16 * v, x);
        tile_max[v] = _mm512_max_ps(tile_max[v], x);
      }
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < LV; ++v) _mm512_store_ps(s.tile_max + 16 * (v0 + v), tile_max[v]);
}

template <bool kMasked>
void score_tile(const Scratch& s, const uint32_t* tile_kp, int64_t first_key, int64_t count,
                int64_t lp, int pairs) {
  const int64_t vectors = lp / 16;
  for (int64_t v0 = 0; v0 < vectors; v0 += kScoreLanes) {
    switch (std::min<int64_t>(kScoreLanes, vectors - v0)) {
      case 4:
        score_lanes<4, kMasked>(s, tile_kp, first_key, count, pairs, lp, v0);
        break;
      case 3:
        score_lanes<3, kMasked>(s, tile_kp, first_key, count, pairs, lp, v0);
        break;
      case 2:
        score_lanes<2, kMasked>(s, tile_kp, first_key, count, pairs, lp, v0);
        break;
      default:
        score_lanes<1, kMasked>(s, tile_kp, first_key, count, pairs, lp, v0);
        break;
    }
  }
}

// 2^x for x <= 0 and slightly above: x = n + f, |f| <= 1/2, 2^f by a degree-5 polynomial
// (Chebyshev fit, 8e-8 from 2^f), scaled by 2^n; within 3 ulp of 2^x in f32 arithmetic, far
// below the bf16 rounding of p that follows (2^-9). Scores are turned into log2 units
// (scale * log2(e)), which saves exp's range reduction by ln 2.
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512
exp2_nonpositive(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.3390863364671234e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6760319183220541e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503571142190778e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022107485308338e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718802622878e-1f));
  return _mm512_scalef_ps(_mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000000754548972f)), n);
}

// p = 2^(x * c - max * c) of one raw score vector (neg_max_c = -max * c); kMasked: 0 where x is
// -inf (key not visible) or where no key was seen yet (`seen` clear).
template <bool kMasked>
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512
probability(const float* x, __m512 c, __m512 neg_max_c, __mmask16 seen) {
  const __m512 v = _mm512_load_ps(x);
  const __m512 p = exp2_nonpositive(_mm512_fmadd_ps(v, c, neg_max_c));
  if constexpr (!kMasked) return p;
  const __mmask16 finite = _mm512_cmp_ps_mask(v, _mm512_set1_ps(kMinusInf), _CMP_NEQ_OQ) & seen;
  return _mm512_maskz_mov_ps(finite, p);
}

// Online-softmax step over the tile's count raw scores: p goes straight into pp as bf16 pairs
// of keys; the running sum (of the f32 p), max and the tile's rescale factor (exactly 1 where
// the max did not move, 0 where no key was seen before) are updated.
// REQUIRES: kMasked, or count is even and every score is finite.
template <bool kMasked>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void softmax_tile(
    const Scratch& s, int64_t count, int64_t lp, float scale_log2) {
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  const __m512 c = _mm512_set1_ps(scale_log2);
  for (int64_t v = 0; v < lp; v += 16) {
    const __m512 old_max = _mm512_load_ps(s.max + v);
    const __m512 new_max = _mm512_max_ps(old_max, _mm512_load_ps(s.tile_max + v));
    const __m512 neg_max_c = _mm512_mul_ps(new_max, _mm512_set1_ps(-scale_log2));
    // Queries that have seen no key yet keep max -inf; their p stay 0 (no NaN).
    const __mmask16 seen = _mm512_cmp_ps_mask(new_max, minus_inf, _CMP_NEQ_OQ);
    const __mmask16 had = _mm512_cmp_ps_mask(old_max, minus_inf, _CMP_NEQ_OQ);
    const __mmask16 same = _mm512_cmp_ps_mask(old_max, new_max, _CMP_EQ_OQ);
    __m512 rescale =
        _mm512_maskz_mov_ps(had, exp2_nonpositive(_mm512_fmadd_ps(old_max, c, neg_max_c)));
    rescale = _mm512_mask_mov_ps(rescale, same, _mm512_set1_ps(1.0f));
    __m512 total = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 2 <= count; j += 2) {
      const __m512 a = probability<kMasked>(s.st + j * lp + v, c, neg_max_c, seen);
      const __m512 b = probability<kMasked>(s.st + (j + 1) * lp + v, c, neg_max_c, seen);
      total = _mm512_add_ps(total, _mm512_add_ps(a, b));
      _mm512_store_si512(s.pp + j / 2 * lp + v, interleave_bf16(a, b));
    }
    if (j < count) {
      const __m512 a = probability<kMasked>(s.st + j * lp + v, c, neg_max_c, seen);
      total = _mm512_add_ps(total, a);
      _mm512_store_si512(s.pp + j / 2 * lp + v, interleave_bf16(a, _mm512_setzero_ps()));
    }
    _mm512_store_ps(s.sum + v, _mm512_fmadd_ps(_mm512_load_ps(s.sum + v), rescale, total));
    _mm512_store_ps(s.max + v, new_max);
    _mm512_store_ps(s.rescale + v, rescale);
  }
}

// The packed values of one key tile for P.V.
struct ValueTile {
  const uint32_t* values;  // vp rows of the tile's key pairs
  int64_t key_pairs;
  bool first;  // the task's first tile: the accumulators start from zero
};

// How a tile's P.V starts from the accumulators: zeros (first tile: no memset of acc per
// task), as they are (every rescale[l] of the register block is exactly 1) or rescaled.
enum class AccStart { kZero, kKeep, kRescale };

// acc[l][c0 .. c0 + 16*NV) = start(acc) + sum_j p[j][l] * V[j][..] for R lanes from l0, over
// `key_pairs` pairs of the tile.
template <int R, int NV, AccStart kStart>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void accumulate_block(
    const Scratch& s, const ValueTile& t, int64_t l0, int64_t lp, int dim, int c0) {
  float* acc = s.acc + l0 * dim + c0;
  const uint32_t* pp = s.pp + l0;
  __m512 a[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 rescale = _mm512_set1_ps(s.rescale[l0 + r]);
#pragma GCC unroll 8
    for (int i = 0; i < NV; ++i) {
      if constexpr (kStart == AccStart::kZero) {
        a[r][i] = _mm512_setzero_ps();
      } else if constexpr (kStart == AccStart::kKeep) {
        a[r][i] = _mm512_loadu_ps(acc + r * dim + 16 * i);
      } else {
        a[r][i] = _mm512_mul_ps(_mm512_loadu_ps(acc + r * dim + 16 * i), rescale);
      }
    }
  }
  for (int64_t jp = 0; jp < t.key_pairs; ++jp) {
    __m512bh v[NV];
#pragma GCC unroll 8
    for (int i = 0; i < NV; ++i) {
      v[i] = reinterpret_cast<__m512bh>(_mm512_load_si512(t.values + jp * dim + c0 + 16 * i));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh p =
          reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int32_t>(pp[jp * lp + r])));
#pragma GCC unroll 8
      for (int i = 0; i < NV; ++i) a[r][i] = _mm512_dpbf16_ps(a[r][i], p, v[i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int i = 0; i < NV; ++i) _mm512_storeu_ps(acc + r * dim + 16 * i, a[r][i]);
  }
}

template <int R, int NV>
void accumulate_lanes(const Scratch& s, const ValueTile& t, int64_t l0, int64_t lp, int dim,
                      int c0) {
  if (t.first) {
    accumulate_block<R, NV, AccStart::kZero>(s, t, l0, lp, dim, c0);
  } else if (std::all_of(s.rescale + l0, s.rescale + l0 + R, [](float r) { return r == 1; })) {
    accumulate_block<R, NV, AccStart::kKeep>(s, t, l0, lp, dim, c0);
  } else {
    accumulate_block<R, NV, AccStart::kRescale>(s, t, l0, lp, dim, c0);
  }
}

// All lanes, columns [c0, c0 + 16*NV): register tiles of R lanes (R * NV <= 24 accumulators).
template <int NV>
void accumulate_columns(const Scratch& s, const ValueTile& t, int64_t lanes, int64_t lp, int dim,
                        int c0) {
  constexpr int kLanes = NV <= 6 ? 4 : 2;
  int64_t l = 0;
  for (; l + kLanes <= lanes; l += kLanes) accumulate_lanes<kLanes, NV>(s, t, l, lp, dim, c0);
  for (; l < lanes; ++l) accumulate_lanes<1, NV>(s, t, l, lp, dim, c0);
}

using ColumnsFunction = void (*)(const Scratch&, const ValueTile&, int64_t, int64_t, int, int);

// accumulate_columns<1..8>, picked at run time by the number of 16-column vectors left.
template <size_t... I>
constexpr std::array<ColumnsFunction, sizeof...(I)> columns_functions(std::index_sequence<I...>) {
  return {accumulate_columns<static_cast<int>(I) + 1>...};
}

constexpr std::array<ColumnsFunction, 8> kColumnsFunctions =
    columns_functions(std::make_index_sequence<8>());

void accumulate_tile(const Scratch& s, const ValueTile& t, int64_t lanes, int64_t lp, int dim) {
  for (int c0 = 0; c0 < dim; c0 += 128) {
    kColumnsFunctions[std::min(8, (dim - c0) / 16) - 1](s, t, lanes, lp, dim, c0);
  }
}

// Brings the output rows into L2 while the last tile runs: normalize then stores to lines it
// holds instead of waiting for each one (the rows of a task are scattered, one head each).
void prefetch_outputs(float* const* out, int64_t lanes, int dim) {
  for (int64_t l = 0; l < lanes; ++l) {
    for (int d = 0; d < dim; d += 16) _mm_prefetch(out[l] + d, _MM_HINT_T1);
  }
}

// out[l] = acc[l] / sum[l] (zeros for a query that saw no key).
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void normalize(const Scratch& s,
                                                                                float* const* out,
                                                                                int64_t lanes,
                                                                                int dim) {
  for (int64_t l = 0; l < lanes; ++l) {
    const __m512 inverse = _mm512_set1_ps(s.sum[l] > 0.0f ? 1.0f / s.sum[l] : 0.0f);
    for (int d = 0; d < dim; d += 16) {
      _mm512_storeu_ps(out[l] + d, _mm512_mul_ps(_mm512_loadu_ps(s.acc + l * dim + d), inverse));
    }
  }
}

}  // namespace

bool attention_bf16_supports(const AttentionParams& params) {
  return params.head_dim % 16 == 0 && params.head_dim <= 256 && params.scale > 0.0f;
}

bool attention_bf16_pays_off(const AttentionBlock& block, const AttentionParams& params) {
  return block.q_count * (params.num_heads / params.num_kv_heads) >= 16;
}

void attention_task_bf16(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const Bf16KeyValues& kv, int kv_head,
                         const AttentionParams& params, AttentionBf16Scratch& scratch) {
  const int dim = params.head_dim;
  const int pairs = dim / 2;
  const int64_t lp = (lanes + 15) / 16 * 16;
  const Scratch s = carve(scratch, lanes, lp, dim);
  const uint32_t* keys = kv.keys.data() + kv_head * kv.key_rows * pairs;
  const uint32_t* values = kv.values.data() + kv_head * kv.value_rows * dim;
  pack_queries(s, q, lanes, lp, dim);
  // Padding lanes (zero queries, never read back) see every key, so they never force masks.
  int64_t min_end = max_end;
  for (int64_t l = 0; l < lp; ++l) {
    s.end[l] = static_cast<int32_t>(l < lanes ? end[l] : max_end);
    min_end = std::min<int64_t>(min_end, s.end[l]);
    s.max[l] = kMinusInf;
    s.sum[l] = 0.0f;
  }
  if (max_end == 0) std::fill(s.acc, s.acc + lanes * dim, 0.0f);  // no tile sets them
  const float scale_log2 = params.scale * kLog2e;
  for (int64_t j0 = 0; j0 < max_end; j0 += kTileKeys) {
    const int64_t count = std::min<int64_t>(kTileKeys, max_end - j0);
    const uint32_t* tile_keys = keys + j0 * pairs;
    if (j0 + count == max_end) prefetch_outputs(out, lanes, dim);
    if (count == kTileKeys && j0 + count <= min_end) {
      score_tile<false>(s, tile_keys, j0, count, lp, pairs);
      softmax_tile<false>(s, count, lp, scale_log2);
    } else {
      score_tile<true>(s, tile_keys, j0, count, lp, pairs);
      softmax_tile<true>(s, count, lp, scale_log2);
    }
    accumulate_tile(s, {values + j0 / 2 * dim, (count + 1) / 2, j0 == 0}, lanes, lp, dim);
  }
  normalize(s, out, lanes, dim);
}

}  // namespace vcap::tensor::cpu
