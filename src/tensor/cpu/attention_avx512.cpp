#include "tensor/cpu/attention_avx512.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "tensor/cpu/attention_tiles.h"
#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

// The scheme and the working set: attention_tiles.h.
using Scratch = TileScratch;
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// st[j][v*16 ..] = sum_d k[j][d] * qt[d][v*16 ..] for 4 keys and LV lane vectors from v0.
template <int LV>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void score_block(const float* const* k,
                                                                       const float* qt, int64_t lp,
                                                                       int dim, int64_t v0,
                                                                       float* st) {
  __m512 acc[4][LV];
  for (int j = 0; j < 4; ++j) {
    for (int v = 0; v < LV; ++v) acc[j][v] = _mm512_setzero_ps();
  }
  for (int d = 0; d < dim; ++d) {
    __m512 q[LV];
    for (int v = 0; v < LV; ++v) q[v] = _mm512_load_ps(qt + d * lp + 16 * (v0 + v));
    for (int j = 0; j < 4; ++j) {
      const __m512 kd = _mm512_set1_ps(k[j][d]);
      for (int v = 0; v < LV; ++v) acc[j][v] = _mm512_fmadd_ps(kd, q[v], acc[j][v]);
    }
  }
  for (int j = 0; j < 4; ++j) {
    for (int v = 0; v < LV; ++v) _mm512_store_ps(st + j * lp + 16 * (v0 + v), acc[j][v]);
  }
}

void score_tile(const Scratch& s, const AttentionBlock& block, int64_t column, int64_t j0,
                int64_t count, int64_t lp, int dim) {
  for (int64_t j = 0; j < count; j += 4) {
    const float* k[4];
    for (int i = 0; i < 4; ++i) {
      k[i] = j + i < count ? block.k.row<float>(j0 + j + i) + column : s.zeros;
    }
    for (int64_t v0 = 0; v0 < lp / 16; v0 += 4) {
      switch (std::min<int64_t>(4, lp / 16 - v0)) {
        case 4:
          score_block<4>(k, s.qt, lp, dim, v0, s.st + j * lp);
          break;
        case 3:
          score_block<3>(k, s.qt, lp, dim, v0, s.st + j * lp);
          break;
        case 2:
          score_block<2>(k, s.qt, lp, dim, v0, s.st + j * lp);
          break;
        default:
          score_block<1>(k, s.qt, lp, dim, v0, s.st + j * lp);
          break;
      }
    }
  }
}

// Online-softmax step for every query over keys j0 .. j0 + count: st becomes probabilities
// (0 where a key is not visible), max/sum are updated and s.scale gets each query's rescale
// factor for its accumulated output.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void softmax_tile(const Scratch& s,
                                                                        int64_t j0, int64_t count,
                                                                        int64_t lp, float scale) {
  const __m512 minus_inf = _mm512_set1_ps(kMinusInf);
  for (int64_t v = 0; v < lp; v += 16) {
    const __m512i end = _mm512_load_si512(s.end + v);
    __m512 tile_max = minus_inf;
    for (int64_t j = 0; j < count; ++j) {
      const __mmask16 visible =
          _mm512_cmplt_epi32_mask(_mm512_set1_epi32(static_cast<int32_t>(j0 + j)), end);
      float* row = s.st + j * lp + v;
      const __m512 x =
          _mm512_mask_mul_ps(minus_inf, visible, _mm512_load_ps(row), _mm512_set1_ps(scale));
      _mm512_store_ps(row, x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
    const __m512 old_max = _mm512_load_ps(s.max + v);
    const __m512 new_max = _mm512_max_ps(old_max, tile_max);
    // Queries that have seen no key yet keep max -inf; their p and rescale stay 0 (no NaN).
    const __mmask16 seen = _mm512_cmp_ps_mask(new_max, minus_inf, _CMP_NEQ_OQ);
    const __mmask16 had = _mm512_cmp_ps_mask(old_max, minus_inf, _CMP_NEQ_OQ);
    const __m512 rescale = _mm512_maskz_mov_ps(had, simd::exp512(_mm512_sub_ps(old_max, new_max)));
    __m512 total = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
      float* row = s.st + j * lp + v;
      const __m512 x = _mm512_load_ps(row);
      const __mmask16 finite = _mm512_cmp_ps_mask(x, minus_inf, _CMP_NEQ_OQ) & seen;
      const __m512 p = _mm512_maskz_mov_ps(finite, simd::exp512(_mm512_sub_ps(x, new_max)));
      total = _mm512_add_ps(total, p);
      _mm512_store_ps(row, p);
    }
    _mm512_store_ps(s.sum + v, _mm512_fmadd_ps(_mm512_load_ps(s.sum + v), rescale, total));
    _mm512_store_ps(s.max + v, new_max);
    _mm512_store_ps(s.scale + v, rescale);
  }
}

// acc[l][0..16*NV) += sum_j st[j][l] * V[j0 + j][column ..] for R lanes from l0.
template <int R, int NV>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void accumulate_block(
    const Scratch& s, int64_t l0, int64_t lp, int dim, const AttentionBlock& block, int64_t column,
    int64_t j0, int64_t keys, int c0) {
  __m512 a[R][NV];
  for (int r = 0; r < R; ++r) {
    const float scale = s.scale[l0 + r];
    for (int i = 0; i < NV; ++i) {
      a[r][i] = _mm512_mul_ps(_mm512_loadu_ps(s.acc + (l0 + r) * dim + c0 + 16 * i),
                              _mm512_set1_ps(scale));
    }
  }
  for (int64_t j = 0; j < keys; ++j) {
    const float* v = block.v.row<float>(j0 + j) + column + c0;
    __m512 vv[NV];
    for (int i = 0; i < NV; ++i) vv[i] = _mm512_loadu_ps(v + 16 * i);
    for (int r = 0; r < R; ++r) {
      const __m512 p = _mm512_set1_ps(s.st[j * lp + l0 + r]);
      for (int i = 0; i < NV; ++i) a[r][i] = _mm512_fmadd_ps(p, vv[i], a[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < NV; ++i) _mm512_storeu_ps(s.acc + (l0 + r) * dim + c0 + 16 * i, a[r][i]);
  }
}

// All lanes, columns [c0, c0 + 16*NV): register tiles of R lanes (R * NV <= 24 accumulators).
template <int NV>
void accumulate_columns(const Scratch& s, int64_t lanes, int64_t lp, int dim,
                        const AttentionBlock& block, int64_t column, int64_t j0, int64_t keys,
                        int c0) {
  constexpr int kLanes = NV <= 6 ? 4 : 2;
  int64_t l = 0;
  for (; l + kLanes <= lanes; l += kLanes) {
    accumulate_block<kLanes, NV>(s, l, lp, dim, block, column, j0, keys, c0);
  }
  for (; l < lanes; ++l) accumulate_block<1, NV>(s, l, lp, dim, block, column, j0, keys, c0);
}

using ColumnsFunction = void (*)(const Scratch&, int64_t, int64_t, int, const AttentionBlock&,
                                 int64_t, int64_t, int64_t, int);

// accumulate_columns<1..8>, picked at run time by the number of 16-column vectors left.
template <size_t... I>
constexpr std::array<ColumnsFunction, sizeof...(I)> columns_functions(std::index_sequence<I...>) {
  return {accumulate_columns<static_cast<int>(I) + 1>...};
}

constexpr std::array<ColumnsFunction, 8> kColumnsFunctions =
    columns_functions(std::make_index_sequence<8>());

void accumulate_tile(const Scratch& s, int64_t lanes, int64_t lp, int dim,
                     const AttentionBlock& block, int64_t column, int64_t j0, int64_t keys) {
  for (int c0 = 0; c0 < dim; c0 += 128) {
    kColumnsFunctions[std::min(8, (dim - c0) / 16) - 1](s, lanes, lp, dim, block, column, j0, keys,
                                                        c0);
  }
}

}  // namespace

bool attention_avx512_supports(const AttentionParams& params) {
  return params.head_dim % 16 == 0 && params.head_dim <= 256;
}

void attention_task_avx512(const float* const* q, float* const* out, const int64_t* end,
                           int64_t lanes, int64_t max_end, const AttentionBlock& block, int kv_head,
                           const AttentionParams& params, std::vector<float>& scratch) {
  const int dim = params.head_dim;
  const int64_t column = static_cast<int64_t>(kv_head) * dim;
  const int64_t lp = (lanes + 15) / 16 * 16;
  const Scratch s = start_tile_task(scratch, q, end, lanes, lp, dim);
  for (int64_t j0 = 0; j0 < max_end; j0 += kTileKeys) {
    const int64_t count = std::min<int64_t>(kTileKeys, max_end - j0);
    score_tile(s, block, column, j0, count, lp, dim);
    softmax_tile(s, j0, count, lp, params.scale);
    accumulate_tile(s, lanes, lp, dim, block, column, j0, count);
  }
  finish_tile_task(s, out, lanes, dim);
}

}  // namespace vcap::tensor::cpu
