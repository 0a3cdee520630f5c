// The tensor-core attention kernel body (bf16 products; attention_kernels.h says how it is
// built and checked). Each warp owns 16 of the item's 64 lanes: one m16 row tile. Per key tile
// of 64: S = Q.K^T as 8 n-tiles of 8 keys (Q fragments stay in registers for the whole item),
// the online softmax on S's fragments (a row's 64 scores are spread over the 4 threads of a
// quad), then O += P.V with P's fragments reused as the A operand (the accumulator layout of two
// n-tiles is the A layout of one k-step). K and V tiles lie in shared memory alike, as
// [key][head_dim / 2] bf16 pairs with rows padded by 4 words, so that the 8 rows of an ldmatrix
// fall on 32 distinct banks; ldmatrix gives the K fragments and, transposing (.trans), the V
// fragments straight from V's rows. bf16 K and V with 16-byte aligned rows (the model's) are
// pipelined: the next tile is copied with cp.async into the other pair of buffers while this one
// is used, one barrier per tile; other K and V are loaded and converted tile by tile. Rounding as
// the CPU's bf16 attention: q, k, v and p to bf16 (nearest even); scores, max, sum (of
// unrounded p) and accumulators in f32.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_MMA_H_
#define VCAP_TENSOR_CUDA_ATTENTION_MMA_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "tensor/cuda/attention_kernels.h"
#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kMmaKeys = 64;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;

// Words per row of a K or V tile: head_dim / 2 pairs and 4 words of padding (rows 16-byte aligned
// for cp.async and ldmatrix; pitch = 4 or 12 mod 32 words keeps 8 consecutive rows on distinct
// banks).
VCAP_HOST_DEVICE constexpr int attention_mma_key_pitch(int head_dim) { return head_dim / 2 + 4; }

// Words of one K or V tile.
VCAP_HOST_DEVICE constexpr int attention_mma_tile_words(int head_dim) {
  return kMmaKeys * attention_mma_key_pitch(head_dim);
}

// Two stages of a K tile and a V tile: the tile in use and the next, in flight.
VCAP_HOST_DEVICE constexpr size_t attention_mma_shared_bytes(int head_dim) {
  return sizeof(uint32_t) * 4 * static_cast<size_t>(attention_mma_tile_words(head_dim));
}

// Whether the rows at `base` may be read a pair of elements (one word of bf16, or 8 bytes of f32)
// at a time: an even row stride from a base aligned for it (the head's first column, kv_head *
// head_dim, is even).
VCAP_SIMT_FN bool pairs_aligned(const void* base, int64_t stride, bool bf16) {
  const auto address = reinterpret_cast<uintptr_t>(base);
  return stride % 2 == 0 && address % (bf16 ? 4 : 8) == 0;
}

// Rows [tile, tile + count) of K or V (`base`, `stride`) of the item's kv head into a tile
// (zeros past `count`), an element pair per word.
template <int kDim>
VCAP_SIMT_FN void load_tile_rows(uint32_t* rows, const void* base, int64_t stride, bool bf16,
                                 bool aligned_pairs, int64_t kv_column, int64_t tile, int count) {
  constexpr int kPairs = kDim / 2;
  constexpr int kPitch = attention_mma_key_pitch(kDim);
  // Consecutive threads read consecutive pairs of a row.
  for (int i = simt::thread_rank(); i < kMmaKeys * kPairs; i += kAttentionThreads) {
    const int key = i / kPairs;
    const int pair = i % kPairs;
    uint32_t word = 0;
    if (key < count) {
      const int64_t first = (tile + key) * stride + kv_column + 2 * pair;
      if (bf16) {
        const uint16_t* halves = static_cast<const uint16_t*>(base) + first;
        word = aligned_pairs
                   ? simt::load_word(halves)
                   : static_cast<uint32_t>(halves[0]) | static_cast<uint32_t>(halves[1]) << 16;
      } else {
        const float* values = static_cast<const float*>(base) + first;
        if (aligned_pairs) {
          const simt::Word2 both = simt::load_word2(values);
          word = simt::bf16_pair_fast(simt::float_of(both.x), simt::float_of(both.y));
        } else {
          word = simt::bf16_pair_fast(values[0], values[1]);
        }
      }
    }
    rows[key * kPitch + pair] = word;
  }
}

// Whether a tile may be read 16 bytes at a time (load_tile_rows_wide, fetch_tile_async): K and V
// rows whose starts (the block's base and every row stride) are 16-byte aligned. The head's first
// column, kv_head * head_dim elements in, keeps that alignment for every head dim the kernel
// supports.
VCAP_SIMT_FN bool rows_16b_aligned(const AttentionBlockDesc& block) {
  const int64_t bytes = block.kv_bf16 != 0 ? 2 : 4;
  const auto k = reinterpret_cast<uintptr_t>(block.k);
  const auto v = reinterpret_cast<uintptr_t>(block.v);
  return k % 16 == 0 && v % 16 == 0 && block.k_stride * bytes % 16 == 0 &&
         block.v_stride * bytes % 16 == 0;
}

// load_tile_rows for f32 rows that start 16-byte aligned (rows_16b_aligned; such bf16 ones are
// pipelined instead): the same tile, values rounded to nearest even. Each thread first issues all
// of its loads of a batch, with counts known at compile time, then converts and stores them, so
// that a tile costs about one memory latency per batch rather than one per element; consecutive
// threads read consecutive 16-byte chunks of a row.
template <int kDim>
VCAP_SIMT_FN void load_tile_rows_wide(uint32_t* rows, const float* base, int64_t stride,
                                      int64_t kv_column, int64_t tile, int count) {
  constexpr int kElements = 4;               // f32 per 16-byte chunk
  constexpr int kChunks = kDim / kElements;  // per row
  constexpr int kPitch = attention_mma_key_pitch(kDim);
  constexpr int kTileChunks = kMmaKeys * kChunks;
  constexpr int kLoads = (kTileChunks + kAttentionThreads - 1) / kAttentionThreads;
  // Loads a thread keeps in flight: 8 chunks (32 registers) beside the output accumulators
  // without spilling.
  constexpr int kChunksInFlight = 8;
  static_assert(kDim % kElements == 0);
  // Recomputed per tile: hoisted, the offsets of every chunk would stay in registers through the
  // products and spill.
  const int thread = simt::opaque(simt::thread_rank());
  VCAP_UNROLL
  for (int batch = 0; batch < kLoads; batch += kChunksInFlight) {
    simt::Word4 loaded[kChunksInFlight];
    VCAP_UNROLL
    for (int i = 0; i < kChunksInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      const int key = index / kChunks;
      loaded[i] = batch + i < kLoads && index < kTileChunks && key < count
                      ? simt::load_word4(base + (tile + key) * stride + kv_column +
                                         index % kChunks * kElements)
                      : simt::Word4{};
    }
    VCAP_UNROLL
    for (int i = 0; i < kChunksInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      if (batch + i < kLoads && index < kTileChunks) {
        uint32_t* words = rows + index / kChunks * kPitch + index % kChunks * kElements / 2;
        words[0] = simt::bf16_pair_fast(simt::float_of(loaded[i].x), simt::float_of(loaded[i].y));
        words[1] = simt::bf16_pair_fast(simt::float_of(loaded[i].z), simt::float_of(loaded[i].w));
      }
    }
    simt::compiler_fence();
  }
}

// Starts the copies of keys [tile, tile + count) of bf16 K and V with 16-byte aligned rows
// (rows_16b_aligned) into the tiles `keys` and `values`, zeros past `count`, as one group of
// asynchronous copies: they land while the previous tile is used.
template <int kDim>
VCAP_SIMT_FN void fetch_tile_async(uint32_t* keys, uint32_t* values,
                                   const AttentionBlockDesc& block, int64_t kv_column, int64_t tile,
                                   int count) {
  constexpr int kChunks = kDim / 8;  // 16-byte chunks of a bf16 row
  constexpr int kPitch = attention_mma_key_pitch(kDim);
  const auto* k = static_cast<const uint16_t*>(block.k) + tile * block.k_stride + kv_column;
  const auto* v = static_cast<const uint16_t*>(block.v) + tile * block.v_stride + kv_column;
  // Recomputed per tile, as in load_tile_rows_wide.
  for (int index = simt::opaque(simt::thread_rank()); index < kMmaKeys * kChunks;
       index += kAttentionThreads) {
    const int key = index / kChunks;
    const int chunk = index % kChunks;
    const bool valid = key < count;
    const int64_t row = valid ? key : 0;  // the zero fill reads nothing but needs an address
    simt::async_copy_16(keys + key * kPitch + chunk * 4, k + row * block.k_stride + chunk * 8,
                        valid);
    simt::async_copy_16(values + key * kPitch + chunk * 4, v + row * block.v_stride + chunk * 8,
                        valid);
  }
  simt::async_copy_commit();
}

// K and V tiles of keys [tile, tile + count) loaded and converted by the block's threads (the
// paths that are not pipelined: f32 K and V, unaligned rows), f32 rows 16 bytes at a time where
// they are aligned for it. Out of line: inlined, its loads in flight cost the products' loop
// spills.
template <int kDim>
VCAP_SIMT_COLD_FN void load_tile(uint32_t* keys, uint32_t* values, const AttentionBlockDesc block,
                                 int64_t kv_column, int64_t tile, int count, bool wide) {
  if (wide) {
    load_tile_rows_wide<kDim>(keys, static_cast<const float*>(block.k), block.k_stride, kv_column,
                              tile, count);
    load_tile_rows_wide<kDim>(values, static_cast<const float*>(block.v), block.v_stride, kv_column,
                              tile, count);
    return;
  }
  const bool bf16 = block.kv_bf16 != 0;
  load_tile_rows<kDim>(keys, block.k, block.k_stride, bf16,
                       pairs_aligned(block.k, block.k_stride, bf16), kv_column, tile, count);
  load_tile_rows<kDim>(values, block.v, block.v_stride, bf16,
                       pairs_aligned(block.v, block.v_stride, bf16), kv_column, tile, count);
}

// The four warps' softmax states of the same 16 lanes (kWarpKeys), merged: each thread stores
// its fragments' share into `states` ([warp][lane][max, sum, head_dim outputs], in shared memory
// the tiles no longer use), then the block's threads take (lane, column) pairs and write the
// output, or the item's partial slot, as the fragments' owner would have.
template <int kDim>
VCAP_SIMT_FN void merge_warp_states(const AttentionLaunch& args, const AttentionItem& item,
                                    const AttentionBlockDesc& block, const float (&max)[2],
                                    const float (&sum)[2], const float (&out)[kDim / 8][4],
                                    float* states) {
  constexpr int kStride = kDim + 2;
  constexpr int kWarps = kAttentionThreads / simt::kWarpSize;
  static_assert(kWarps * 16 * kStride * sizeof(float) <= attention_mma_shared_bytes(kDim));
  const int thread = simt::thread_rank();
  const int warp = thread / simt::kWarpSize;
  const int g = thread % simt::kWarpSize / 4;
  const int t = thread % 4;
  simt::sync_block();  // every warp is done with the tiles
  VCAP_UNROLL
  for (int h = 0; h < 2; ++h) {
    float total = sum[h] + simt::shuffle_xor(sum[h], 1);
    total += simt::shuffle_xor(total, 2);
    float* state = states + (warp * 16 + g + 8 * h) * kStride;
    if (t == 0) {
      state[0] = max[h];
      state[1] = total;
    }
    VCAP_UNROLL
    for (int o = 0; o < kDim / 8; ++o) {
      state[2 + 8 * o + 2 * t] = out[o][2 * h];
      state[2 + 8 * o + 2 * t + 1] = out[o][2 * h + 1];
    }
  }
  simt::sync_block();
  const int group = args.group;
  for (int i = thread; i < 16 * kDim; i += kAttentionThreads) {
    const int lane = i / kDim;
    const int d = i % kDim;
    const int64_t query = item.lane_begin + lane;
    const int64_t row = query / group;
    if (row >= block.q_count) continue;
    float top = -INFINITY;
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, states[(w * 16 + lane) * kStride]);
    float value = 0.0f;
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
      const float* state = states + (w * 16 + lane) * kStride;
      // A warp that saw no visible key has max -inf and weighs nothing.
      const float weight = state[0] == -INFINITY ? 0.0f : exp2f(state[0] - top);
      value += state[2 + d] * weight;
      total += state[1] * weight;
    }
    if (item.partial < 0) {
      const int64_t column = head_column(item.kv_head, query, group, kDim) + d;
      store_output(args, block.q_begin + row, column, total > 0.0f ? value / total : 0.0f);
    } else {
      float* slot = partial_state(args, item.partial, lane, kDim);
      if (d == 0) {
        slot[0] = top * kLn2;  // the merge's units: scale * q.k
        slot[1] = total;
      }
      slot[2 + d] = value;
    }
  }
}

// Thread block `index` of the tensor-core kernel; `shared` holds attention_mma_shared_bytes.
// kWarpKeys (AttentionLaunch::warp_keys: every item's lanes fit one warp, as in a decode step):
// the four warps take the same 16 lanes and a quarter of each key tile each (16 keys), and merge
// their states at the end; otherwise each warp takes 16 lanes and the whole tile. A decode step
// used to leave three warps only loading while one did every product of every tile.
template <int kDim, bool kWarpKeys>
VCAP_SIMT_FN void attention_mma_block(const AttentionLaunch& args, int index, uint32_t* shared) {
  static_assert(attention_mma_supports(kDim));
  constexpr int kSteps = kDim / 16;    // k-steps of Q.K^T
  constexpr int kOutTiles = kDim / 8;  // n-tiles of the output
  constexpr int kScoreTiles = kWarpKeys ? 2 : kMmaKeys / 8;  // n-tiles of scores per warp
  constexpr int kValueSteps = kScoreTiles / 2;               // k-steps of P.V per warp

  constexpr int kPitch = attention_mma_key_pitch(kDim);
  constexpr float kMinusInf = -INFINITY;
  constexpr int kTileWords = attention_mma_tile_words(kDim);
  // Stage s: K at shared + 2 s tiles, V after it.
  const auto keys_of = [&](int stage) { return shared + 2 * stage * kTileWords; };
  const auto values_of = [&](int stage) { return shared + (2 * stage + 1) * kTileWords; };

  const AttentionItem item = args.items[index];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int thread = simt::thread_rank();
  const int warp = thread / simt::kWarpSize;
  const int g = thread % simt::kWarpSize / 4;  // fragment row (and row + 8)
  const int t = thread % 4;                    // fragment column pair
  const int group = args.group;
  const int64_t kv_column = static_cast<int64_t>(item.kv_head) * kDim;

  // This thread's two lanes: rows g and g + 8 of the warp's 16 (h = 0, 1); its warp's keys of
  // each tile: [key_base, key_base + 8 * kScoreTiles).
  const int64_t lane_base = item.lane_begin + (kWarpKeys ? 0 : warp * 16);
  const int key_base = kWarpKeys ? 16 * warp : 0;
  int64_t query[2];
  int64_t row[2];
  int64_t end[2];
  const float* q_row[2];
  VCAP_UNROLL
  for (int h = 0; h < 2; ++h) {
    query[h] = lane_base + g + 8 * h;
    row[h] = query[h] / group;
    end[h] = visible_end(block, row[h]);
    q_row[h] = row[h] < block.q_count ? args.q + (block.q_begin + row[h]) * args.q_stride +
                                            head_column(item.kv_head, query[h], group, kDim)
                                      : nullptr;
  }
  const auto q_pair = [&](int h, int column) {
    return q_row[h] == nullptr ? 0u : simt::bf16_pair_fast(q_row[h][column], q_row[h][column + 1]);
  };
  uint32_t q_frag[kSteps][4];
  VCAP_UNROLL
  for (int s = 0; s < kSteps; ++s) {
    q_frag[s][0] = q_pair(0, 16 * s + 2 * t);
    q_frag[s][1] = q_pair(1, 16 * s + 2 * t);
    q_frag[s][2] = q_pair(0, 16 * s + 8 + 2 * t);
    q_frag[s][3] = q_pair(1, 16 * s + 8 + 2 * t);
  }

  float out[kOutTiles][4];
  VCAP_UNROLL
  for (int o = 0; o < kOutTiles; ++o) out[o][0] = out[o][1] = out[o][2] = out[o][3] = 0.0f;
  // Scores are kept as scale * q.k * log2(e), so that e^(x - max) is one exp2 of a difference
  // (the GPU's ex2 instruction) instead of expf's ten instructions.
  const float scale_log2 = args.scale * kLog2e;
  float max[2] = {kMinusInf, kMinusInf};  // in those units
  float sum[2] = {0.0f, 0.0f};  // this thread's keys only; summed over the quad at the end
  const bool wide = rows_16b_aligned(block);
  // A warp whose 16 lanes are all past the block's rows (the last warps of a short block's tile)
  // only helps load the tiles: its products would be thrown away. Checked where the registers
  // allow it: at three blocks per multiprocessor the check cost head_dim 80 a spill, and the
  // vision tower's blocks, the ones at that head dim, fill every warp. With kWarpKeys every warp
  // has the block's rows.
  const bool warp_has_rows =
      kWarpKeys || attention_mma_blocks_per_sm(kDim) >= 3 || lane_base / group < block.q_count;

  // The model's case, bf16 K and V with aligned rows, is pipelined: the next tile's copies land
  // while this one is used. Other K and V are loaded tile by tile.
  const bool pipelined = wide && block.kv_bf16 != 0;
  const auto count_at = [&](int64_t tile) {
    return static_cast<int>(item.key_end - tile < kMmaKeys ? item.key_end - tile : kMmaKeys);
  };
  if (pipelined && item.key_begin < item.key_end) {
    fetch_tile_async<kDim>(keys_of(0), values_of(0), block, kv_column, item.key_begin,
                           count_at(item.key_begin));
  }
  // The ldmatrix rows this thread gives: row r = lane % 8 of matrix m = lane / 8 (simt.h).
  const int matrix = thread % simt::kWarpSize / 8;
  const int matrix_row = thread % 8;
  int stage = 0;  // the buffers of this tile
  for (int64_t tile = item.key_begin; tile < item.key_end; tile += kMmaKeys) {
    const int count = count_at(tile);
    // Byte addresses in the shared window (ldmatrix's).
    const uint32_t keys = simt::shared_address(keys_of(stage));
    const uint32_t values = simt::shared_address(values_of(stage));
    if (pipelined) {
      simt::async_copy_wait_all();  // this thread's copies of the tile
      simt::sync_block();  // everyone's; and every warp is done with the other stage's tile
      if (tile + kMmaKeys < item.key_end) {
        fetch_tile_async<kDim>(keys_of(stage ^ 1), values_of(stage ^ 1), block, kv_column,
                               tile + kMmaKeys, count_at(tile + kMmaKeys));
      }
      stage ^= 1;
    } else {
      simt::sync_block();  // every warp is done with the previous tile
      load_tile<kDim>(keys_of(0), values_of(0), block, kv_column, tile, count, wide);
      simt::sync_block();
    }
    if (!warp_has_rows) continue;

    // S = Q.K^T, two n-tiles (16 keys) per ldmatrix: matrices (keys 8n.., columns 16s..),
    // (8n.., 16s + 8..), (8n + 8.., 16s..), (8n + 8.., 16s + 8..) are b0, b1 of n-tile n and
    // b0, b1 of n-tile n + 1.
    float score[kScoreTiles][4];
    VCAP_UNROLL
    for (int n = 0; n < kScoreTiles; n += 2) {
      VCAP_UNROLL
      for (int j = 0; j < 4; ++j) score[n][j] = score[n + 1][j] = 0.0f;
      const uint32_t key_row =
          keys + 4 * ((key_base + 8 * (n + matrix / 2) + matrix_row) * kPitch + 4 * (matrix % 2));
      VCAP_UNROLL
      for (int s = 0; s < kSteps; ++s) {
        uint32_t b[4];
        simt::ldmatrix_x4(b, key_row + 32 * s);
        simt::mma_bf16_16x8x16(score[n], q_frag[s], b[0], b[1]);
        simt::mma_bf16_16x8x16(score[n + 1], q_frag[s], b[2], b[3]);
      }
    }

    // Online softmax per row; score[n][2h + j] is key tile + key_base + 8n + 2t + j of lane h.
    VCAP_UNROLL
    for (int h = 0; h < 2; ++h) {
      VCAP_UNROLL
      for (int n = 0; n < kScoreTiles; ++n) {
        score[n][2 * h] *= scale_log2;
        score[n][2 * h + 1] *= scale_log2;
      }
      // Masks only where a key of the tile is past the row's visible end or the item's range:
      // the causal diagonal and the last tile.
      if (count < kMmaKeys || tile + kMmaKeys > end[h]) {
        VCAP_UNROLL
        for (int n = 0; n < kScoreTiles; ++n) {
          VCAP_UNROLL
          for (int j = 0; j < 2; ++j) {
            const int64_t key = tile + key_base + 8 * n + 2 * t + j;
            if (key >= tile + count || key >= end[h]) score[n][2 * h + j] = kMinusInf;
          }
        }
      }
      float tile_max = kMinusInf;
      VCAP_UNROLL
      for (int n = 0; n < kScoreTiles; ++n) {
        tile_max = fmaxf(tile_max, fmaxf(score[n][2 * h], score[n][2 * h + 1]));
      }
      tile_max = fmaxf(tile_max, simt::shuffle_xor(tile_max, 1));
      tile_max = fmaxf(tile_max, simt::shuffle_xor(tile_max, 2));
      const float new_max = fmaxf(max[h], tile_max);
      // With no visible key yet the max is -inf: subtract 0 instead, so exp gives 0, not NaN.
      const float base = new_max == kMinusInf ? 0.0f : new_max;
      const float correction = exp2f(max[h] - base);
      float tile_sum = 0.0f;
      VCAP_UNROLL
      for (int n = 0; n < kScoreTiles; ++n) {
        VCAP_UNROLL
        for (int j = 0; j < 2; ++j) {
          float& s = score[n][2 * h + j];
          s = exp2f(s - base);
          tile_sum += s;
        }
      }
      sum[h] = sum[h] * correction + tile_sum;
      max[h] = new_max;
      VCAP_UNROLL
      for (int o = 0; o < kOutTiles; ++o) {
        out[o][2 * h] *= correction;
        out[o][2 * h + 1] *= correction;
      }
    }

    // O += P.V: k-step s covers keys 16s..16s+15, i.e. score n-tiles 2s and 2s + 1. P first (its
    // bf16 fragments take half the registers of the scores), then V's rows transposed by
    // ldmatrix: matrices (keys 16s.., columns 8o..), (16s + 8.., 8o..), (16s.., 8o + 8..),
    // (16s + 8.., 8o + 8..) are b0, b1 of output tile o and of o + 1.
    uint32_t p_frag[kValueSteps][4];
    VCAP_UNROLL
    for (int s = 0; s < kValueSteps; ++s) {
      p_frag[s][0] = simt::bf16_pair_fast(score[2 * s][0], score[2 * s][1]);
      p_frag[s][1] = simt::bf16_pair_fast(score[2 * s][2], score[2 * s][3]);
      p_frag[s][2] = simt::bf16_pair_fast(score[2 * s + 1][0], score[2 * s + 1][1]);
      p_frag[s][3] = simt::bf16_pair_fast(score[2 * s + 1][2], score[2 * s + 1][3]);
    }
    const uint32_t value_row =
        values + 4 * ((key_base + 8 * (matrix % 2) + matrix_row) * kPitch + 4 * (matrix / 2));
    VCAP_UNROLL
    for (int o = 0; o < kOutTiles; o += 2) {
      VCAP_UNROLL
      for (int s = 0; s < kValueSteps; ++s) {
        uint32_t b[4];
        simt::ldmatrix_x4_trans(b, value_row + 4 * (16 * s * kPitch + 4 * o));
        simt::mma_bf16_16x8x16(out[o], p_frag[s], b[0], b[1]);
        simt::mma_bf16_16x8x16(out[o + 1], p_frag[s], b[2], b[3]);
      }
    }
  }

  if constexpr (kWarpKeys) {
    merge_warp_states<kDim>(args, item, block, max, sum, out, reinterpret_cast<float*>(shared));
  } else {
    VCAP_UNROLL
    for (int h = 0; h < 2; ++h) {
      float total = sum[h] + simt::shuffle_xor(sum[h], 1);
      total += simt::shuffle_xor(total, 2);
      if (row[h] >= block.q_count) continue;
      if (item.partial < 0) {
        const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
        const int64_t out_row = block.q_begin + row[h];
        const int64_t column = head_column(item.kv_head, query[h], group, kDim) + 2 * t;
        VCAP_UNROLL
        for (int o = 0; o < kOutTiles; ++o) {
          store_output(args, out_row, column + 8 * o, out[o][2 * h] * inverse);
          store_output(args, out_row, column + 8 * o + 1, out[o][2 * h + 1] * inverse);
        }
      } else {
        const int lane = warp * 16 + g + 8 * h;
        float* state = partial_state(args, item.partial, lane, kDim);
        if (t == 0) {
          state[0] = max[h] * kLn2;  // the combine step's units: scale * q.k
          state[1] = total;
        }
        VCAP_UNROLL
        for (int o = 0; o < kOutTiles; ++o) {
          state[2 + 8 * o + 2 * t] = out[o][2 * h];
          state[2 + 8 * o + 2 * t + 1] = out[o][2 * h + 1];
        }
      }
    }
  }
  merge_if_last_part<(kDim + 31) / 32>(args, index, reinterpret_cast<float*>(shared));
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_MMA_H_
