#include "tensor/cpu/attention_bf16.h"

#include <algorithm>
#include <array>
#include <limits>

#include "tensor/cpu/simd_math.h"  // immintrin.h without GCC 12's spurious warnings

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
// per task would convert every key again for each tile of query rows (and read K and V, f32,
// from memory each time).
constexpr int kTileKeys = 64;  // even: keys pair up inside a tile
constexpr int kScoreKeys = 4;  // keys per score register block; kp rows are padded to it
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.44269504088896341f;

struct Scratch {
  // f32 (64-byte aligned)
  float* st;        // [kTileKeys][lp]      scores, then probabilities, of the current key tile
  float* max;       // [lp]                 running max per query (scores in log2 units)
  float* sum;       // [lp]                 running sum of exp per query
  float* rescale;   // [lp]                 rescale factor of the current tile
  float* tile_max;  // [lp]                 max score per query over the current tile
  float* acc;       // [lanes][dim]         unnormalised outputs
  // bf16 pairs (64-byte aligned)
  uint32_t* qp;  // [dim/2][lp]
  uint32_t* pp;  // [kTileKeys/2][lp]
  int32_t* end;  // [lp]                   keys [0, end) visible per query (0 for padding lanes)
};

// The 64-byte aligned start of a vector sized with 16 spare elements.
template <typename T>
T* aligned_data(std::vector<T>& storage) {
  const auto address = reinterpret_cast<uintptr_t>(storage.data());
  return storage.data() + ((64 - address % 64) % 64) / sizeof(T);
}

template <typename T>
const T* aligned_data(const std::vector<T>& storage) {
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
  s.qp = aligned_start(storage.packed, pairs * lp + kTileKeys / 2 * lp + lp);
  s.pp = s.qp + pairs * lp;
  s.end = reinterpret_cast<int32_t*>(s.pp + kTileKeys / 2 * lp);
  return s;
}

// out[i] = (bf16(x[2i]), bf16(x[2i+1])) for i < dim/2: a plain conversion, as element 2i of a
// bf16 vector is the low half of its 32-bit lane i. REQUIRES: dim % 16 == 0.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_row(const float* x,
                                                                               int dim,
                                                                               uint32_t* out) {
  int d = 0;
  for (; d + 32 <= dim; d += 32) {
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + d + 16), _mm512_loadu_ps(x + d));
    _mm512_storeu_si512(out + d / 2, reinterpret_cast<__m512i>(b));
  }
  if (d < dim) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d / 2), reinterpret_cast<__m256i>(b));
  }
}

// 32-bit lane i = (bf16(a[i]), bf16(b[i])).
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512i
interleave(__m512 a, __m512 b) {
  // Word 2i takes word i of cvtne2ps (a), word 2i+1 takes word 16 + i (b).
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i index = _mm512_add_epi32(_mm512_mullo_epi32(iota, _mm512_set1_epi32(0x10001)),
                                         _mm512_set1_epi32(0x100000));
  return _mm512_permutexvar_epi16(index, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
}

void pack_queries(const Scratch& s, const float* const* q, int64_t lanes, int64_t lp, int dim) {
  const int pairs = dim / 2;
  std::array<uint32_t, 128> row;
  for (int64_t l = 0; l < lp; ++l) {
    if (l < lanes) {
      pack_row(q[l], dim, row.data());
    } else {
      std::fill_n(row.begin(), pairs, 0u);
    }
    for (int i = 0; i < pairs; ++i) s.qp[i * lp + l] = row[i];
  }
}

// What the score loop does with a finished score: scale it, hide keys a query may not see
// (-inf) and keep the tile's max per query.
struct ScoreEpilogue {
  float scale;         // scale * log2(e): scores in log2 units, p = 2^(x - max)
  int64_t first_key;   // block index of the tile's key 0
  const int32_t* end;  // [lp] keys [0, end) visible per query
  float* tile_max;     // [lp] running max over the tile
};

// st[j][v*16 ..] = scale * sum_i kp[j][i] . qp[i][v*16 ..] (-inf where not visible) for
// kScoreKeys keys from key j0 of the tile and LV lane vectors from v0.
template <int LV>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void score_block(
    const uint32_t* kp, const uint32_t* qp, int64_t lp, int pairs, int64_t v0, int64_t j0,
    float* st, const ScoreEpilogue& e) {
  __m512 acc[kScoreKeys][LV];
  for (int j = 0; j < kScoreKeys; ++j) {
    for (int v = 0; v < LV; ++v) acc[j][v] = _mm512_setzero_ps();
  }
  for (int i = 0; i < pairs; ++i) {
    __m512bh q[LV];
    for (int v = 0; v < LV; ++v) {
      q[v] = reinterpret_cast<__m512bh>(_mm512_load_si512(qp + i * lp + 16 * (v0 + v)));
    }
    for (int j = 0; j < kScoreKeys; ++j) {
      const __m512bh k =
          reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int32_t>(kp[j * pairs + i])));
      for (int v = 0; v < LV; ++v) acc[j][v] = _mm512_dpbf16_ps(acc[j][v], q[v], k);
    }
  }
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  const __m512 scale = _mm512_set1_ps(e.scale);
  for (int v = 0; v < LV; ++v) {
    const int64_t lane = 16 * (v0 + v);
    const __m512i end = _mm512_load_si512(e.end + lane);
    __m512 tile_max = _mm512_load_ps(e.tile_max + lane);
    for (int j = 0; j < kScoreKeys; ++j) {
      const auto key = static_cast<int32_t>(e.first_key + j0 + j);
      const __mmask16 visible = _mm512_cmplt_epi32_mask(_mm512_set1_epi32(key), end);
      const __m512 x = _mm512_mask_mul_ps(minus_inf, visible, acc[j][v], scale);
      _mm512_store_ps(st + (j0 + j) * lp + lane, x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
    _mm512_store_ps(e.tile_max + lane, tile_max);
  }
}

// Scaled, masked scores of keys [0, count) of the tile starting at block key j0, whose packed
// keys start at tile_kp (rows up to count rounded up to kScoreKeys are read), and their max per
// query in s.tile_max.
void score_tile(const Scratch& s, const uint32_t* tile_kp, int64_t j0, int64_t count, int64_t lp,
                int dim, float scale) {
  const int pairs = dim / 2;
  std::fill(s.tile_max, s.tile_max + lp, kMinusInf);
  const ScoreEpilogue e{scale, j0, s.end, s.tile_max};
  for (int64_t j = 0; j < count; j += kScoreKeys) {
    const uint32_t* kp = tile_kp + j * pairs;
    for (int64_t v0 = 0; v0 < lp / 16; v0 += 4) {
      switch (std::min<int64_t>(4, lp / 16 - v0)) {
        case 4:
          score_block<4>(kp, s.qp, lp, pairs, v0, j, s.st, e);
          break;
        case 3:
          score_block<3>(kp, s.qp, lp, pairs, v0, j, s.st, e);
          break;
        case 2:
          score_block<2>(kp, s.qp, lp, pairs, v0, j, s.st, e);
          break;
        default:
          score_block<1>(kp, s.qp, lp, pairs, v0, j, s.st, e);
          break;
      }
    }
  }
}

// 2^x for x <= 0 (the Cephes exp2f scheme: x = n + f, |f| <= 1/2, 2^f by a degree-6
// polynomial, scaled by 2^n; about 2 ulp). Scores are kept in log2 units (scale * log2(e)
// applied once in the score loop), which saves exp's range reduction by ln 2.
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512
exp2_nonpositive(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  return _mm512_scalef_ps(_mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f)), n);
}

// 2^(x - max) of one score vector; 0 where x is -inf (key not visible) or no key was seen.
[[gnu::always_inline, gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] inline __m512
probability(const float* x, __m512 max, __mmask16 seen) {
  const __m512 v = _mm512_load_ps(x);
  const __mmask16 finite = _mm512_cmp_ps_mask(v, _mm512_set1_ps(kMinusInf), _CMP_NEQ_OQ) & seen;
  return _mm512_maskz_mov_ps(finite, exp2_nonpositive(_mm512_sub_ps(v, max)));
}

// Online-softmax step over the tile's count scores (the f32 kernel's, attention_avx512.cpp,
// with the tile max already known): p = 2^(x - new max) goes straight into pp as bf16 pairs
// of keys, the running sum (of the f32 p), max and the rescale factor are updated.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void softmax_tile(const Scratch& s,
                                                                                   int64_t count,
                                                                                   int64_t lp) {
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  for (int64_t v = 0; v < lp; v += 16) {
    const __m512 old_max = _mm512_load_ps(s.max + v);
    const __m512 new_max = _mm512_max_ps(old_max, _mm512_load_ps(s.tile_max + v));
    // Queries that have seen no key yet keep max -inf; their p and rescale stay 0 (no NaN).
    const __mmask16 seen = _mm512_cmp_ps_mask(new_max, minus_inf, _CMP_NEQ_OQ);
    const __mmask16 had = _mm512_cmp_ps_mask(old_max, minus_inf, _CMP_NEQ_OQ);
    const __m512 rescale =
        _mm512_maskz_mov_ps(had, exp2_nonpositive(_mm512_sub_ps(old_max, new_max)));
    __m512 total = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; j += 2) {
      const __m512 a = probability(s.st + j * lp + v, new_max, seen);
      const __m512 b =
          j + 1 < count ? probability(s.st + (j + 1) * lp + v, new_max, seen) : _mm512_setzero_ps();
      total = _mm512_add_ps(total, _mm512_add_ps(a, b));
      _mm512_store_si512(s.pp + j / 2 * lp + v, interleave(a, b));
    }
    _mm512_store_ps(s.sum + v, _mm512_fmadd_ps(_mm512_load_ps(s.sum + v), rescale, total));
    _mm512_store_ps(s.max + v, new_max);
    _mm512_store_ps(s.rescale + v, rescale);
  }
}

// acc[l][c0 .. c0 + 16*NV) = acc * rescale[l] + sum_j p[j][l] * V[j][..] for R lanes from l0,
// over `key_pairs` pairs of the tile.
template <int R, int NV>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void accumulate_block(
    const Scratch& s, const uint32_t* vp, int64_t l0, int64_t lp, int dim, int64_t key_pairs,
    int c0) {
  __m512 a[R][NV];
  for (int r = 0; r < R; ++r) {
    const __m512 rescale = _mm512_set1_ps(s.rescale[l0 + r]);
    for (int i = 0; i < NV; ++i) {
      a[r][i] = _mm512_mul_ps(_mm512_loadu_ps(s.acc + (l0 + r) * dim + c0 + 16 * i), rescale);
    }
  }
  for (int64_t jp = 0; jp < key_pairs; ++jp) {
    __m512bh v[NV];
    for (int i = 0; i < NV; ++i) {
      v[i] = reinterpret_cast<__m512bh>(_mm512_load_si512(vp + jp * dim + c0 + 16 * i));
    }
    for (int r = 0; r < R; ++r) {
      const __m512bh p = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int32_t>(s.pp[jp * lp + l0 + r])));
      for (int i = 0; i < NV; ++i) a[r][i] = _mm512_dpbf16_ps(a[r][i], p, v[i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < NV; ++i) _mm512_storeu_ps(s.acc + (l0 + r) * dim + c0 + 16 * i, a[r][i]);
  }
}

// All lanes, columns [c0, c0 + 16*NV): register tiles of R lanes (R * NV <= 24 accumulators).
template <int NV>
void accumulate_columns(const Scratch& s, const uint32_t* vp, int64_t lanes, int64_t lp, int dim,
                        int64_t key_pairs, int c0) {
  constexpr int kLanes = NV <= 6 ? 4 : 2;
  int64_t l = 0;
  for (; l + kLanes <= lanes; l += kLanes) {
    accumulate_block<kLanes, NV>(s, vp, l, lp, dim, key_pairs, c0);
  }
  for (; l < lanes; ++l) accumulate_block<1, NV>(s, vp, l, lp, dim, key_pairs, c0);
}

void accumulate_tile(const Scratch& s, const uint32_t* vp, int64_t lanes, int64_t lp, int dim,
                     int64_t key_pairs) {
  for (int c0 = 0; c0 < dim; c0 += 128) {
    switch (std::min(8, (dim - c0) / 16)) {
      case 8:
        accumulate_columns<8>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 7:
        accumulate_columns<7>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 6:
        accumulate_columns<6>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 5:
        accumulate_columns<5>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 4:
        accumulate_columns<4>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 3:
        accumulate_columns<3>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      case 2:
        accumulate_columns<2>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
      default:
        accumulate_columns<1>(s, vp, lanes, lp, dim, key_pairs, c0);
        break;
    }
  }
}

}  // namespace

void resize_bf16_key_values(const AttentionBlock& block, const AttentionParams& params,
                            Bf16KeyValues& kv) {
  const int64_t k_count = block.k.rows;
  kv.key_rows = (k_count + kScoreKeys - 1) / kScoreKeys * kScoreKeys;
  kv.value_rows = (k_count + 1) / 2;
  const int64_t pairs = params.head_dim / 2;
  kv.keys.resize(params.num_kv_heads * kv.key_rows * pairs + 16);
  kv.values.resize(params.num_kv_heads * kv.value_rows * params.head_dim + 16);
  for (int g = 0; g < params.num_kv_heads; ++g) {
    uint32_t* keys = aligned_data(kv.keys) + g * kv.key_rows * pairs;
    std::fill(keys + k_count * pairs, keys + kv.key_rows * pairs, 0u);
  }
}

[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void pack_bf16_key_pair(
    const AttentionBlock& block, const AttentionParams& params, int64_t pair, Bf16KeyValues& kv) {
  const int dim = params.head_dim;
  const int64_t j = 2 * pair;
  const bool second = j + 1 < block.k.rows;
  for (int g = 0; g < params.num_kv_heads; ++g) {
    const int64_t column = static_cast<int64_t>(g) * dim;
    uint32_t* keys = aligned_data(kv.keys) + (g * kv.key_rows + j) * (dim / 2);
    pack_row(block.k.row<float>(j) + column, dim, keys);
    if (second) pack_row(block.k.row<float>(j + 1) + column, dim, keys + dim / 2);
    const float* a = block.v.row<float>(j) + column;
    const float* b = second ? block.v.row<float>(j + 1) + column : nullptr;
    uint32_t* values = aligned_data(kv.values) + (g * kv.value_rows + pair) * dim;
    for (int d = 0; d < dim; d += 16) {
      const __m512 bv = b ? _mm512_loadu_ps(b + d) : _mm512_setzero_ps();
      _mm512_store_si512(values + d, interleave(_mm512_loadu_ps(a + d), bv));
    }
  }
}

bool attention_bf16_supports(const AttentionParams& params) {
  return params.head_dim % 16 == 0 && params.head_dim <= 256;
}

bool attention_bf16_pays_off(const AttentionBlock& block, const AttentionParams& params) {
  return block.q_count * (params.num_heads / params.num_kv_heads) >= 16;
}

void attention_task_bf16(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const Bf16KeyValues& kv, int kv_head,
                         const AttentionParams& params, AttentionBf16Scratch& scratch) {
  const int dim = params.head_dim;
  const int64_t lp = (lanes + 15) / 16 * 16;
  const Scratch s = carve(scratch, lanes, lp, dim);
  const uint32_t* keys = aligned_data(kv.keys) + kv_head * kv.key_rows * (dim / 2);
  const uint32_t* values = aligned_data(kv.values) + kv_head * kv.value_rows * dim;
  pack_queries(s, q, lanes, lp, dim);
  for (int64_t l = 0; l < lp; ++l) {
    s.end[l] = l < lanes ? static_cast<int32_t>(end[l]) : 0;
    s.max[l] = kMinusInf;
    s.sum[l] = 0.0f;
  }
  std::fill(s.acc, s.acc + lanes * dim, 0.0f);
  for (int64_t j0 = 0; j0 < max_end; j0 += kTileKeys) {
    const int64_t count = std::min<int64_t>(kTileKeys, max_end - j0);
    score_tile(s, keys + j0 * (dim / 2), j0, count, lp, dim, params.scale * kLog2e);
    softmax_tile(s, count, lp);
    accumulate_tile(s, values + j0 / 2 * dim, lanes, lp, dim, (count + 1) / 2);
  }
  for (int64_t l = 0; l < lanes; ++l) {
    const float inverse = s.sum[l] > 0.0f ? 1.0f / s.sum[l] : 0.0f;
    for (int d = 0; d < dim; ++d) out[l][d] = s.acc[l * dim + d] * inverse;
  }
}

}  // namespace vcap::tensor::cpu
