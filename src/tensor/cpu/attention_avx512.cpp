#include "tensor/cpu/attention_avx512.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

constexpr int kTileKeys = 64;  // keys per tile: 4 vectors of 16 scores
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Per-thread working set of one task, carved out of one vector:
//   kt     [head_dim][kTileKeys]  the key tile, transposed (so scores are vector FMAs)
//   scores [lanes][kTileKeys]     scores, then probabilities, of the current tile
//   acc    [lanes][head_dim]      unnormalised outputs
//   max, sum [lanes]              online-softmax state
struct Scratch {
  float* kt;
  float* scores;
  float* acc;
  float* max;
  float* sum;
};

Scratch carve(std::vector<float>& storage, int64_t lanes, int dim) {
  constexpr size_t kAlignFloats = 16;  // 64 bytes, so kt rows are aligned vector loads
  const size_t need = static_cast<size_t>(dim) * kTileKeys + lanes * kTileKeys + lanes * dim +
                      2 * lanes + kAlignFloats;
  if (storage.size() < need) storage.resize(need);
  const auto address = reinterpret_cast<uintptr_t>(storage.data());
  float* p = storage.data() + ((64 - address % 64) % 64) / sizeof(float);
  Scratch s{p, p + dim * kTileKeys, nullptr, nullptr, nullptr};
  s.acc = s.scores + lanes * kTileKeys;
  s.max = s.acc + lanes * dim;
  s.sum = s.max + lanes;
  return s;
}

// kt[d][j] = K[j0 + j][d] for j < count, 0 beyond.
void pack_keys(float* kt, const AttentionBlock& block, int64_t column, int64_t j0,
               int64_t count, int dim) {
  if (count < kTileKeys) std::fill(kt, kt + static_cast<size_t>(dim) * kTileKeys, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    const float* k = block.k.row<float>(j0 + j) + column;
    for (int d = 0; d < dim; ++d) kt[d * kTileKeys + j] = k[d];
  }
}

// scores[r][0..63] = q[r] . kt[:, 0..63] for R lanes.
template <int R>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void score_rows(const float* const* q,
                                                                      const float* kt, int dim,
                                                                      float* scores) {
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_setzero_ps();
  }
  for (int d = 0; d < dim; ++d) {
    const float* row = kt + d * kTileKeys;
    const __m512 k0 = _mm512_load_ps(row);
    const __m512 k1 = _mm512_load_ps(row + 16);
    const __m512 k2 = _mm512_load_ps(row + 32);
    const __m512 k3 = _mm512_load_ps(row + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 qd = _mm512_set1_ps(q[r][d]);
      acc[r][0] = _mm512_fmadd_ps(qd, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(qd, k1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(qd, k2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(qd, k3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < 4; ++i) _mm512_storeu_ps(scores + r * kTileKeys + 16 * i, acc[r][i]);
  }
}

// Online-softmax step of one lane over `valid` scores of the tile: scores become
// probabilities exp(s - max) (0 past `valid`), and sum / acc are rescaled to the new max.
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void softmax_step(
    float* scores, int64_t valid, float scale, float* max, float* sum, float* acc, int dim) {
  if (valid <= 0) {
    std::fill(scores, scores + kTileKeys, 0.0f);
    return;
  }
  __m512 s[4];
  __m512 tile_max = _mm512_set1_ps(kMinusInf);
  for (int i = 0; i < 4; ++i) {
    const __mmask16 mask = simd::first_lanes(std::max<int64_t>(0, valid - 16 * i));
    s[i] = _mm512_mask_mul_ps(_mm512_set1_ps(kMinusInf), mask,
                              _mm512_loadu_ps(scores + 16 * i), _mm512_set1_ps(scale));
    tile_max = _mm512_max_ps(tile_max, s[i]);
  }
  const float new_max = std::max(*max, _mm512_reduce_max_ps(tile_max));
  const float correction = *max == kMinusInf ? 0.0f : std::exp(*max - new_max);
  __m512 total = _mm512_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    const __mmask16 mask = simd::first_lanes(std::max<int64_t>(0, valid - 16 * i));
    const __m512 p = _mm512_maskz_mov_ps(
        mask, simd::exp512(_mm512_sub_ps(s[i], _mm512_set1_ps(new_max))));
    total = _mm512_add_ps(total, p);
    _mm512_storeu_ps(scores + 16 * i, p);
  }
  *sum = *sum * correction + _mm512_reduce_add_ps(total);
  *max = new_max;
  if (correction != 1.0f) {
    const __m512 c = _mm512_set1_ps(correction);
    for (int d = 0; d < dim; d += 16) {
      _mm512_storeu_ps(acc + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), c));
    }
  }
}

// acc[r][c0 .. c0 + 16*NV) += sum_j p[r][j] * V[j0 + j][c0 ..] for R lanes and j < keys.
template <int R, int NV>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl")]] void accumulate_values(
    const float* p, float* acc, int dim, const AttentionBlock& block, int64_t column, int64_t j0,
    int64_t keys, int c0) {
  __m512 a[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < NV; ++i) a[r][i] = _mm512_loadu_ps(acc + r * dim + c0 + 16 * i);
  }
  for (int64_t j = 0; j < keys; ++j) {
    const float* v = block.v.row<float>(j0 + j) + column + c0;
    __m512 vv[NV];
    for (int i = 0; i < NV; ++i) vv[i] = _mm512_loadu_ps(v + 16 * i);
    for (int r = 0; r < R; ++r) {
      const __m512 pr = _mm512_set1_ps(p[r * kTileKeys + j]);
      for (int i = 0; i < NV; ++i) a[r][i] = _mm512_fmadd_ps(pr, vv[i], a[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < NV; ++i) _mm512_storeu_ps(acc + r * dim + c0 + 16 * i, a[r][i]);
  }
}

template <int R>
void accumulate_rows(const float* p, float* acc, int dim, const AttentionBlock& block,
                     int64_t column, int64_t j0, int64_t keys) {
  for (int c0 = 0; c0 < dim; c0 += 64) {
    switch (std::min(4, (dim - c0) / 16)) {
      case 4:
        accumulate_values<R, 4>(p, acc, dim, block, column, j0, keys, c0);
        break;
      case 3:
        accumulate_values<R, 3>(p, acc, dim, block, column, j0, keys, c0);
        break;
      case 2:
        accumulate_values<R, 2>(p, acc, dim, block, column, j0, keys, c0);
        break;
      default:
        accumulate_values<R, 1>(p, acc, dim, block, column, j0, keys, c0);
        break;
    }
  }
}

// Scores and value accumulation for lanes [l, l + R) of one key tile.
template <int R>
void tile_rows(const float* const* q, const Scratch& s, int64_t l, const int64_t* end,
               const AttentionBlock& block, int64_t column, int64_t j0, int64_t count,
               const AttentionParams& params) {
  const int dim = params.head_dim;
  score_rows<R>(q + l, s.kt, dim, s.scores + l * kTileKeys);
  int64_t keys = 0;  // keys visible to at least one of the R lanes
  for (int r = 0; r < R; ++r) {
    const int64_t valid = std::min(count, end[l + r] - j0);
    softmax_step(s.scores + (l + r) * kTileKeys, valid, params.scale, s.max + l + r,
                 s.sum + l + r, s.acc + (l + r) * dim, dim);
    keys = std::max(keys, valid);
  }
  if (keys > 0) {
    accumulate_rows<R>(s.scores + l * kTileKeys, s.acc + l * dim, dim, block, column, j0, keys);
  }
}

}  // namespace

bool attention_avx512_supports(const AttentionParams& params) {
  return params.head_dim % 16 == 0 && params.head_dim <= 256;
}

void attention_task_avx512(const float* const* q, float* const* out, const int64_t* end,
                           int64_t lanes, int64_t max_end, const AttentionBlock& block,
                           int kv_head, const AttentionParams& params,
                           std::vector<float>& scratch) {
  const int dim = params.head_dim;
  const int64_t column = static_cast<int64_t>(kv_head) * dim;
  const Scratch s = carve(scratch, lanes, dim);
  std::fill(s.acc, s.acc + lanes * dim, 0.0f);
  std::fill(s.max, s.max + lanes, kMinusInf);
  std::fill(s.sum, s.sum + lanes, 0.0f);
  for (int64_t j0 = 0; j0 < max_end; j0 += kTileKeys) {
    const int64_t count = std::min<int64_t>(kTileKeys, max_end - j0);
    pack_keys(s.kt, block, column, j0, count, dim);
    int64_t l = 0;
    for (; l + 4 <= lanes; l += 4) tile_rows<4>(q, s, l, end, block, column, j0, count, params);
    switch (lanes - l) {
      case 3:
        tile_rows<3>(q, s, l, end, block, column, j0, count, params);
        break;
      case 2:
        tile_rows<2>(q, s, l, end, block, column, j0, count, params);
        break;
      case 1:
        tile_rows<1>(q, s, l, end, block, column, j0, count, params);
        break;
      default:
        break;
    }
  }
  for (int64_t l = 0; l < lanes; ++l) {
    const float inverse = s.sum[l] > 0.0f ? 1.0f / s.sum[l] : 0.0f;
    for (int d = 0; d < dim; ++d) out[l][d] = s.acc[l * dim + d] * inverse;
  }
}

}  // namespace vcap::tensor::cpu
