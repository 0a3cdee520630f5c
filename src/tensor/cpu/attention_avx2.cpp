#include "tensor/cpu/attention_avx2.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "tensor/cpu/attention_tiles.h"
#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

// The scheme and the working set: attention_tiles.h; here on vectors of 8 lanes. AVX2 has 16
// vector registers (AVX-512 has 32), so the register tiles are half as tall.
constexpr int kLanesPerVector = 8;
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// st[j][v*8 ..] = sum_d k[j][d] * qt[d][v*8 ..] for 4 keys and LV lane vectors from v0.
template <int LV>
[[gnu::target("avx2,fma")]] void score_block(const float* const* k, const float* qt, int64_t lp,
                                             int dim, int64_t v0, float* st) {
  __m256 acc[4][LV];
  for (int j = 0; j < 4; ++j) {
    for (int v = 0; v < LV; ++v) acc[j][v] = _mm256_setzero_ps();
  }
  for (int d = 0; d < dim; ++d) {
    __m256 q[LV];
    for (int v = 0; v < LV; ++v) q[v] = _mm256_load_ps(qt + d * lp + 8 * (v0 + v));
    for (int j = 0; j < 4; ++j) {
      const __m256 kd = _mm256_set1_ps(k[j][d]);
      for (int v = 0; v < LV; ++v) acc[j][v] = _mm256_fmadd_ps(kd, q[v], acc[j][v]);
    }
  }
  for (int j = 0; j < 4; ++j) {
    for (int v = 0; v < LV; ++v) _mm256_store_ps(st + j * lp + 8 * (v0 + v), acc[j][v]);
  }
}

void score_tile(const TileScratch& s, const AttentionBlock& block, int64_t column, int64_t j0,
                int64_t count, int64_t lp, int dim) {
  const int64_t vectors = lp / kLanesPerVector;
  for (int64_t j = 0; j < count; j += 4) {
    const float* k[4];
    for (int i = 0; i < 4; ++i) {
      k[i] = j + i < count ? block.k.row<float>(j0 + j + i) + column : s.zeros;
    }
    for (int64_t v0 = 0; v0 < vectors; v0 += 2) {
      if (vectors - v0 >= 2) {
        score_block<2>(k, s.qt, lp, dim, v0, s.st + j * lp);
      } else {
        score_block<1>(k, s.qt, lp, dim, v0, s.st + j * lp);
      }
    }
  }
}

// Online-softmax step for every query over keys j0 .. j0 + count, as attention_avx512.cpp's:
// st becomes probabilities (0 where a key is not visible), max/sum are updated and s.scale
// gets each query's rescale factor for its accumulated output.
[[gnu::target("avx2,fma")]] void softmax_tile(const TileScratch& s, int64_t j0, int64_t count,
                                              int64_t lp, float scale) {
  const __m256 minus_inf = _mm256_set1_ps(kMinusInf);
  for (int64_t v = 0; v < lp; v += kLanesPerVector) {
    const __m256i end = _mm256_load_si256(reinterpret_cast<const __m256i*>(s.end + v));
    __m256 tile_max = minus_inf;
    for (int64_t j = 0; j < count; ++j) {
      const __m256 visible = _mm256_castsi256_ps(
          _mm256_cmpgt_epi32(end, _mm256_set1_epi32(static_cast<int32_t>(j0 + j))));
      float* row = s.st + j * lp + v;
      const __m256 x = _mm256_blendv_ps(
          minus_inf, _mm256_mul_ps(_mm256_load_ps(row), _mm256_set1_ps(scale)), visible);
      _mm256_store_ps(row, x);
      tile_max = _mm256_max_ps(tile_max, x);
    }
    const __m256 old_max = _mm256_load_ps(s.max + v);
    const __m256 new_max = _mm256_max_ps(old_max, tile_max);
    // Queries that have seen no key yet keep max -inf; their p and rescale stay 0 (no NaN).
    const __m256 seen = _mm256_cmp_ps(new_max, minus_inf, _CMP_NEQ_OQ);
    const __m256 had = _mm256_cmp_ps(old_max, minus_inf, _CMP_NEQ_OQ);
    const __m256 rescale = _mm256_and_ps(had, simd::exp256(_mm256_sub_ps(old_max, new_max)));
    __m256 total = _mm256_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
      float* row = s.st + j * lp + v;
      const __m256 x = _mm256_load_ps(row);
      const __m256 finite = _mm256_and_ps(_mm256_cmp_ps(x, minus_inf, _CMP_NEQ_OQ), seen);
      const __m256 p = _mm256_and_ps(finite, simd::exp256(_mm256_sub_ps(x, new_max)));
      total = _mm256_add_ps(total, p);
      _mm256_store_ps(row, p);
    }
    _mm256_store_ps(s.sum + v, _mm256_fmadd_ps(_mm256_load_ps(s.sum + v), rescale, total));
    _mm256_store_ps(s.max + v, new_max);
    _mm256_store_ps(s.scale + v, rescale);
  }
}

// acc[l][0..8*NV) += sum_j st[j][l] * V[j0 + j][column ..] for R lanes from l0.
template <int R, int NV>
[[gnu::target("avx2,fma")]] void accumulate_block(const TileScratch& s, int64_t l0, int64_t lp,
                                                  int dim, const AttentionBlock& block,
                                                  int64_t column, int64_t j0, int64_t keys,
                                                  int c0) {
  __m256 a[R][NV];
  for (int r = 0; r < R; ++r) {
    const __m256 scale = _mm256_set1_ps(s.scale[l0 + r]);
    for (int i = 0; i < NV; ++i) {
      a[r][i] = _mm256_mul_ps(_mm256_loadu_ps(s.acc + (l0 + r) * dim + c0 + 8 * i), scale);
    }
  }
  for (int64_t j = 0; j < keys; ++j) {
    const float* v = block.v.row<float>(j0 + j) + column + c0;
    __m256 vv[NV];
    for (int i = 0; i < NV; ++i) vv[i] = _mm256_loadu_ps(v + 8 * i);
    for (int r = 0; r < R; ++r) {
      const __m256 p = _mm256_set1_ps(s.st[j * lp + l0 + r]);
      for (int i = 0; i < NV; ++i) a[r][i] = _mm256_fmadd_ps(p, vv[i], a[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < NV; ++i) _mm256_storeu_ps(s.acc + (l0 + r) * dim + c0 + 8 * i, a[r][i]);
  }
}

// All lanes, columns [c0, c0 + 8*NV), two lanes at a time (8 accumulators at most).
template <int NV>
void accumulate_columns(const TileScratch& s, int64_t lanes, int64_t lp, int dim,
                        const AttentionBlock& block, int64_t column, int64_t j0, int64_t keys,
                        int c0) {
  int64_t l = 0;
  for (; l + 2 <= lanes; l += 2) {
    accumulate_block<2, NV>(s, l, lp, dim, block, column, j0, keys, c0);
  }
  for (; l < lanes; ++l) accumulate_block<1, NV>(s, l, lp, dim, block, column, j0, keys, c0);
}

using ColumnsFunction = void (*)(const TileScratch&, int64_t, int64_t, int, const AttentionBlock&,
                                 int64_t, int64_t, int64_t, int);

// accumulate_columns<1..4>, picked at run time by the number of 8-column vectors left.
constexpr std::array<ColumnsFunction, 4> kColumnsFunctions = {
    accumulate_columns<1>, accumulate_columns<2>, accumulate_columns<3>, accumulate_columns<4>};

void accumulate_tile(const TileScratch& s, int64_t lanes, int64_t lp, int dim,
                     const AttentionBlock& block, int64_t column, int64_t j0, int64_t keys) {
  for (int c0 = 0; c0 < dim; c0 += 32) {
    kColumnsFunctions[std::min(4, (dim - c0) / 8) - 1](s, lanes, lp, dim, block, column, j0, keys,
                                                       c0);
  }
}

}  // namespace

bool attention_avx2_supports(const AttentionParams& params) {
  return params.head_dim % kLanesPerVector == 0 && params.head_dim <= 256;
}

void attention_task_avx2(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const AttentionBlock& block, int kv_head,
                         const AttentionParams& params, std::vector<float>& scratch) {
  const int dim = params.head_dim;
  const int64_t column = static_cast<int64_t>(kv_head) * dim;
  const int64_t lp = (lanes + kLanesPerVector - 1) / kLanesPerVector * kLanesPerVector;
  const TileScratch s = start_tile_task(scratch, q, end, lanes, lp, dim);
  for (int64_t j0 = 0; j0 < max_end; j0 += kTileKeys) {
    const int64_t count = std::min<int64_t>(kTileKeys, max_end - j0);
    score_tile(s, block, column, j0, count, lp, dim);
    softmax_tile(s, j0, count, lp, params.scale);
    accumulate_tile(s, lanes, lp, dim, block, column, j0, count);
  }
  finish_tile_task(s, out, lanes, dim);
}

}  // namespace vcap::tensor::cpu
