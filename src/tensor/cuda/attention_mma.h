// The tensor-core attention kernel body (bf16 products; attention_kernels.h says how it is
// built and checked). Each warp owns 16 of the item's 64 lanes: one m16 row tile. Per key tile
// of 64: S = Q.K^T as 8 n-tiles of 8 keys (Q fragments stay in registers for the whole item),
// the online softmax on S's fragments (a row's 64 scores are spread over the 4 threads of a
// quad), then O += P.V with P's fragments reused as the A operand (the accumulator layout of two
// n-tiles is the A layout of one k-step). K is kept in shared memory as [key][head_dim / 2]
// bf16 pairs, V transposed as [head_dim][key / 2] (swizzled: value_swizzle), each row padded by
// 4 words so that a fragment load touches 32 distinct banks. bf16 K and V with 16-byte aligned
// rows (the model's) are pipelined: the next tile's K (into the second K buffer) and V (as it lies
// in memory, transposed to V^T once it is this tile's turn) are copied with cp.async while this
// tile is used; other K and V are loaded and converted tile by tile. Rounding as the CPU's bf16
// attention: q, k, v and p to bf16 (nearest even); scores, max, sum (of unrounded p) and
// accumulators in f32.
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
constexpr int kMmaValuePitch = kMmaKeys / 2 + 4;  // words per row of V^T

// Word `pair` of V^T row `d` is stored at pair ^ value_swizzle(d): the loads write 32
// consecutive rows of one column at once, and without the swizzle rows 8 apart would share a
// bank (pitch 36 = 4 mod 32); the fragment reads stay conflict-free (their 8 rows share d / 8).
VCAP_SIMT_FN int value_swizzle(int d) { return (d >> 3) & 3; }

// Where the loaders store word `pair` (keys 2 * pair, 2 * pair + 1) of V^T row `d`.
VCAP_SIMT_FN uint32_t& value_word(uint32_t* values_t, int d, int pair) {
  return values_t[d * kMmaValuePitch + (pair ^ value_swizzle(d))];
}

VCAP_HOST_DEVICE constexpr int attention_mma_key_pitch(int head_dim) { return head_dim / 2 + 4; }

// Two K tiles (the one in use and the next, in flight), the next V tile as it lies in memory
// (the same layout as K), and the V^T tile in use.
VCAP_HOST_DEVICE constexpr size_t attention_mma_shared_bytes(int head_dim) {
  return sizeof(uint32_t) * (3 * static_cast<size_t>(kMmaKeys) * attention_mma_key_pitch(head_dim) +
                             static_cast<size_t>(head_dim) * kMmaValuePitch);
}

// Whether K rows may be read a pair of elements (one word of bf16, or 8 bytes of f32) at a time:
// even row strides from a base aligned for it (the head's first column, kv_head * head_dim, is
// even).
VCAP_SIMT_FN bool key_pairs_aligned(const AttentionBlockDesc& block) {
  const auto address = reinterpret_cast<uintptr_t>(block.k);
  return block.k_stride % 2 == 0 && address % (block.kv_bf16 != 0 ? 4 : 8) == 0;
}

// Keys [tile, tile + count) of the item's kv head into shared memory (zeros past `count`).
template <int kDim>
VCAP_SIMT_FN void load_mma_tile(uint32_t* keys, uint32_t* values_t, const AttentionBlockDesc& block,
                                int64_t kv_column, int64_t tile, int count, bool pairs_aligned) {
  constexpr int kPairs = kDim / 2;
  constexpr int kKeyPitch = attention_mma_key_pitch(kDim);
  const bool bf16 = block.kv_bf16 != 0;
  const auto row_of = [&](const void* base, int64_t stride, int64_t key) {
    const size_t bytes = bf16 ? 2 : 4;
    return static_cast<const unsigned char*>(base) + ((tile + key) * stride + kv_column) * bytes;
  };
  // K: consecutive threads read consecutive pairs of a row.
  for (int i = simt::thread_rank(); i < kMmaKeys * kPairs; i += kAttentionThreads) {
    const int key = i / kPairs;
    const int pair = i % kPairs;
    uint32_t word = 0;
    if (key < count) {
      const void* row = row_of(block.k, block.k_stride, key);
      if (bf16) {
        const uint16_t* halves = static_cast<const uint16_t*>(row) + 2 * pair;
        word = pairs_aligned
                   ? simt::load_word(halves)
                   : static_cast<uint32_t>(halves[0]) | static_cast<uint32_t>(halves[1]) << 16;
      } else {
        const float* values = static_cast<const float*>(row) + 2 * pair;
        if (pairs_aligned) {
          const simt::Word2 both = simt::load_word2(values);
          word = simt::bf16_pair_fast(simt::float_of(both.x), simt::float_of(both.y));
        } else {
          word = simt::bf16_pair_fast(values[0], values[1]);
        }
      }
    }
    keys[key * kKeyPitch + pair] = word;
  }
  // V^T: consecutive threads read consecutive columns of two rows (coalesced).
  for (int i = simt::thread_rank(); i < kMmaKeys / 2 * kDim; i += kAttentionThreads) {
    const int d = i % kDim;
    const int pair = i / kDim;
    const int key = 2 * pair;
    const float low =
        key < count ? kv_element(row_of(block.v, block.v_stride, key), bf16, d) : 0.0f;
    const float high =
        key + 1 < count ? kv_element(row_of(block.v, block.v_stride, key + 1), bf16, d) : 0.0f;
    value_word(values_t, d, pair) = simt::bf16_pair_fast(low, high);
  }
}

// Whether a tile may be read 16 bytes at a time (load_mma_tile_wide, fetch_tile_async): K and V
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

// V^T words of 16-byte chunks of two keys' V rows, `low` the even key: element j of each as
// word j. From 8 bf16 each (the pipelined path) or 4 f32 each, rounded to nearest even as the
// scalar loader does.
VCAP_SIMT_FN void bf16_value_pairs(const simt::Word4& low, const simt::Word4& high,
                                   uint32_t (&out)[8]) {
  const uint32_t a[4] = {low.x, low.y, low.z, low.w};
  const uint32_t b[4] = {high.x, high.y, high.z, high.w};
  VCAP_UNROLL
  for (int w = 0; w < 4; ++w) {
    out[2 * w] = (a[w] & 0xffffu) | (b[w] << 16);
    out[2 * w + 1] = (a[w] >> 16) | (b[w] & 0xffff0000u);
  }
}

VCAP_SIMT_FN void f32_value_pairs(const simt::Word4& low, const simt::Word4& high,
                                  uint32_t (&out)[4]) {
  out[0] = simt::bf16_pair_fast(simt::float_of(low.x), simt::float_of(high.x));
  out[1] = simt::bf16_pair_fast(simt::float_of(low.y), simt::float_of(high.y));
  out[2] = simt::bf16_pair_fast(simt::float_of(low.z), simt::float_of(high.z));
  out[3] = simt::bf16_pair_fast(simt::float_of(low.w), simt::float_of(high.w));
}

// load_mma_tile for f32 K and V with 16-byte aligned rows (rows_16b_aligned; such bf16 ones are
// pipelined instead): the same shared-memory contents, values rounded to nearest even. Each thread
// first issues all of its loads of a matrix, with counts known at compile time, then converts and
// stores them, so that a tile costs about one memory latency per batch of loads rather than one per
// element. K: consecutive threads read consecutive chunks of a row. V: a warp reads the same chunk
// of 32 key pairs, so that its stores to V^T (one row per column, one word per pair) fall on 32
// distinct banks.
template <int kDim>
VCAP_SIMT_FN void load_mma_tile_wide(uint32_t* keys, uint32_t* values_t,
                                     const AttentionBlockDesc& block, int64_t kv_column,
                                     int64_t tile, int count) {
  constexpr int kElements = 4;               // f32 per 16-byte chunk
  constexpr int kChunks = kDim / kElements;  // per row
  constexpr int kKeyPitch = attention_mma_key_pitch(kDim);
  constexpr int kKeyChunks = kMmaKeys * kChunks;
  constexpr int kKeyLoads = (kKeyChunks + kAttentionThreads - 1) / kAttentionThreads;
  constexpr int kPairChunks = kMmaKeys / 2 * kChunks;
  constexpr int kPairLoads = (kPairChunks + kAttentionThreads - 1) / kAttentionThreads;
  // Loads a thread keeps in flight: 8 chunks (32 registers) beside the output accumulators
  // without spilling; a tile of bf16 at head_dim 128 is one batch per matrix.
  constexpr int kChunksInFlight = 8;
  static_assert(kDim % kElements == 0);
  // Recomputed per tile: hoisted, the offsets of every chunk would stay in registers through the
  // products and spill.
  const int thread = simt::opaque(simt::thread_rank());
  const auto chunk_at = [&](const void* base, int64_t stride, int key, int chunk) {
    if (key >= count) return simt::Word4{};
    const float* row = static_cast<const float*>(base) + (tile + key) * stride + kv_column;
    return simt::load_word4(row + chunk * kElements);
  };

  VCAP_UNROLL
  for (int batch = 0; batch < kKeyLoads; batch += kChunksInFlight) {
    simt::Word4 loaded[kChunksInFlight];
    VCAP_UNROLL
    for (int i = 0; i < kChunksInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      loaded[i] = batch + i < kKeyLoads && index < kKeyChunks
                      ? chunk_at(block.k, block.k_stride, index / kChunks, index % kChunks)
                      : simt::Word4{};
    }
    VCAP_UNROLL
    for (int i = 0; i < kChunksInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      if (batch + i < kKeyLoads && index < kKeyChunks) {
        uint32_t* words = keys + index / kChunks * kKeyPitch + index % kChunks * kElements / 2;
        words[0] = simt::bf16_pair_fast(simt::float_of(loaded[i].x), simt::float_of(loaded[i].y));
        words[1] = simt::bf16_pair_fast(simt::float_of(loaded[i].z), simt::float_of(loaded[i].w));
      }
    }
    simt::compiler_fence();
  }

  constexpr int kPairsInFlight = kChunksInFlight / 2;
  VCAP_UNROLL
  for (int batch = 0; batch < kPairLoads; batch += kPairsInFlight) {
    simt::Word4 low[kPairsInFlight];
    simt::Word4 high[kPairsInFlight];
    VCAP_UNROLL
    for (int i = 0; i < kPairsInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      const int pair = index % (kMmaKeys / 2);
      const int chunk = index / (kMmaKeys / 2);
      low[i] = high[i] = simt::Word4{};
      if (batch + i < kPairLoads && index < kPairChunks) {
        low[i] = chunk_at(block.v, block.v_stride, 2 * pair, chunk);
        high[i] = chunk_at(block.v, block.v_stride, 2 * pair + 1, chunk);
      }
    }
    VCAP_UNROLL
    for (int i = 0; i < kPairsInFlight; ++i) {
      const int index = thread + (batch + i) * kAttentionThreads;
      if (batch + i >= kPairLoads || index >= kPairChunks) continue;
      const int pair = index % (kMmaKeys / 2);
      const int first = index / (kMmaKeys / 2) * kElements;  // the chunk's first column
      uint32_t words[kElements];
      f32_value_pairs(low[i], high[i], words);
      VCAP_UNROLL
      for (int j = 0; j < kElements; ++j) value_word(values_t, first + j, pair) = words[j];
    }
    simt::compiler_fence();
  }
}

// Starts the copies of keys [tile, tile + count) of bf16 K and V with 16-byte aligned rows
// (rows_16b_aligned) into `keys` (the K layout) and `raw_values` (V in the same layout), zeros
// past `count`, as one group of asynchronous copies: they land while the previous tile is used.
template <int kDim>
VCAP_SIMT_FN void fetch_tile_async(uint32_t* keys, uint32_t* raw_values,
                                   const AttentionBlockDesc& block, int64_t kv_column, int64_t tile,
                                   int count) {
  constexpr int kChunks = kDim / 8;  // 16-byte chunks of a bf16 row
  constexpr int kKeyPitch = attention_mma_key_pitch(kDim);
  const auto* k = static_cast<const uint16_t*>(block.k) + tile * block.k_stride + kv_column;
  const auto* v = static_cast<const uint16_t*>(block.v) + tile * block.v_stride + kv_column;
  // Recomputed per tile, as in load_mma_tile_wide.
  for (int index = simt::opaque(simt::thread_rank()); index < kMmaKeys * kChunks;
       index += kAttentionThreads) {
    const int key = index / kChunks;
    const int chunk = index % kChunks;
    const bool valid = key < count;
    const int64_t row = valid ? key : 0;  // the zero fill reads nothing but needs an address
    simt::async_copy_16(keys + key * kKeyPitch + chunk * 4, k + row * block.k_stride + chunk * 8,
                        valid);
    simt::async_copy_16(raw_values + key * kKeyPitch + chunk * 4,
                        v + row * block.v_stride + chunk * 8, valid);
  }
  simt::async_copy_commit();
}

// V^T (load_mma_tile's layout) from a V tile in the K layout (fetch_tile_async), the key pairs
// assigned as load_mma_tile_wide assigns them (conflict-free stores).
template <int kDim>
VCAP_SIMT_FN void transpose_values(uint32_t* values_t, const uint32_t* raw_values) {
  constexpr int kChunks = kDim / 8;
  constexpr int kKeyPitch = attention_mma_key_pitch(kDim);
  for (int index = simt::opaque(simt::thread_rank()); index < kMmaKeys / 2 * kChunks;
       index += kAttentionThreads) {
    const int pair = index % (kMmaKeys / 2);
    const int chunk = index / (kMmaKeys / 2);
    uint32_t words[8];
    bf16_value_pairs(simt::load_word4(raw_values + 2 * pair * kKeyPitch + chunk * 4),
                     simt::load_word4(raw_values + (2 * pair + 1) * kKeyPitch + chunk * 4), words);
    VCAP_UNROLL
    for (int j = 0; j < 8; ++j) value_word(values_t, chunk * 8 + j, pair) = words[j];
  }
}

// Thread block `index` of the tensor-core kernel; `shared` holds attention_mma_shared_bytes.
template <int kDim>
VCAP_SIMT_FN void attention_mma_block(const AttentionLaunch& args, int index, uint32_t* shared) {
  static_assert(attention_mma_supports(kDim));
  constexpr int kSteps = kDim / 16;    // k-steps of Q.K^T
  constexpr int kOutTiles = kDim / 8;  // n-tiles of the output
  constexpr int kKeyPitch = attention_mma_key_pitch(kDim);
  constexpr float kMinusInf = -INFINITY;
  constexpr int kTileWords = kMmaKeys * kKeyPitch;  // K buffers 0 and 1 at shared, then
  uint32_t* const raw_values = shared + 2 * kMmaKeys * kKeyPitch;
  uint32_t* const values_t = shared + 3 * kMmaKeys * kKeyPitch;

  const AttentionItem item = args.items[index];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int thread = simt::thread_rank();
  const int warp = thread / simt::kWarpSize;
  const int g = thread % simt::kWarpSize / 4;  // fragment row (and row + 8)
  const int t = thread % 4;                    // fragment column pair
  const int group = args.group;
  const int64_t kv_column = static_cast<int64_t>(item.kv_head) * kDim;

  // This thread's two lanes: rows g and g + 8 of the warp's 16 (h = 0, 1).
  int64_t query[2];
  int64_t row[2];
  int64_t end[2];
  const float* q_row[2];
  VCAP_UNROLL
  for (int h = 0; h < 2; ++h) {
    query[h] = item.lane_begin + warp * 16 + g + 8 * h;
    row[h] = query[h] / group;
    end[h] = visible_end(block, row[h]);
    q_row[h] = row[h] < block.q_count ? args.q + (block.q_begin + row[h]) * args.q_stride +
                                            kv_column * group + (query[h] % group) * kDim
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
  const bool pairs_aligned = key_pairs_aligned(block);
  const bool wide = rows_16b_aligned(block);
  // A warp whose 16 lanes are all past the block's rows (a decode step's block fills 6 of 64)
  // only helps load the tiles: its products would be thrown away. Checked where the registers
  // allow it: at three blocks per multiprocessor the check costs head_dim 80 a spill, and the
  // vision tower's blocks, the ones at that head dim, fill every warp.
  const bool warp_has_rows = attention_mma_blocks_per_sm(kDim) >= 3 ||
                             (item.lane_begin + warp * 16) / group < block.q_count;

  // The model's case, bf16 K and V with aligned rows, is pipelined: the next tile's copies land
  // while this one is used. Other K and V are loaded tile by tile.
  const bool pipelined = wide && block.kv_bf16 != 0;
  const auto count_at = [&](int64_t tile) {
    return static_cast<int>(item.key_end - tile < kMmaKeys ? item.key_end - tile : kMmaKeys);
  };
  if (pipelined && item.key_begin < item.key_end) {
    fetch_tile_async<kDim>(shared, raw_values, block, kv_column, item.key_begin,
                           count_at(item.key_begin));
  }
  int stage = 0;  // the K buffer of this tile
  for (int64_t tile = item.key_begin; tile < item.key_end; tile += kMmaKeys) {
    const int count = count_at(tile);
    const uint32_t* const keys = shared + stage * kTileWords;
    if (pipelined) {
      simt::async_copy_wait_all();  // this thread's copies of the tile
      simt::sync_block();           // everyone's; and every warp is done with the previous tile
      transpose_values<kDim>(values_t, raw_values);
      simt::sync_block();  // V^T is whole, and the raw V buffer free for the next tile
      if (tile + kMmaKeys < item.key_end) {
        fetch_tile_async<kDim>(shared + (stage ^ 1) * kTileWords, raw_values, block, kv_column,
                               tile + kMmaKeys, count_at(tile + kMmaKeys));
      }
      stage ^= 1;
    } else {
      simt::sync_block();  // every warp is done with the previous tile
      if (!wide) {
        load_mma_tile<kDim>(shared, values_t, block, kv_column, tile, count, pairs_aligned);
      } else {
        load_mma_tile_wide<kDim>(shared, values_t, block, kv_column, tile, count);
      }
      simt::sync_block();
    }
    if (!warp_has_rows) continue;

    float score[kMmaKeys / 8][4];
    VCAP_UNROLL
    for (int n = 0; n < kMmaKeys / 8; ++n) {
      score[n][0] = score[n][1] = score[n][2] = score[n][3] = 0.0f;
      const uint32_t* key_row = keys + (n * 8 + g) * kKeyPitch;
      VCAP_UNROLL
      for (int s = 0; s < kSteps; ++s) {
        simt::mma_bf16_16x8x16(score[n], q_frag[s], key_row[8 * s + t], key_row[8 * s + 4 + t]);
      }
    }

    // Online softmax per row; score[n][2h + j] is key tile + 8n + 2t + j of lane h.
    VCAP_UNROLL
    for (int h = 0; h < 2; ++h) {
      VCAP_UNROLL
      for (int n = 0; n < kMmaKeys / 8; ++n) {
        score[n][2 * h] *= scale_log2;
        score[n][2 * h + 1] *= scale_log2;
      }
      // Masks only where a key of the tile is past the row's visible end or the item's range:
      // the causal diagonal and the last tile.
      if (count < kMmaKeys || tile + kMmaKeys > end[h]) {
        VCAP_UNROLL
        for (int n = 0; n < kMmaKeys / 8; ++n) {
          VCAP_UNROLL
          for (int j = 0; j < 2; ++j) {
            const int64_t key = tile + 8 * n + 2 * t + j;
            if (key >= tile + count || key >= end[h]) score[n][2 * h + j] = kMinusInf;
          }
        }
      }
      float tile_max = kMinusInf;
      VCAP_UNROLL
      for (int n = 0; n < kMmaKeys / 8; ++n) {
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
      for (int n = 0; n < kMmaKeys / 8; ++n) {
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

    // O += P.V: k-step s covers keys 16s..16s+15, i.e. score n-tiles 2s and 2s + 1.
    VCAP_UNROLL
    for (int s = 0; s < kMmaKeys / 16; ++s) {
      const uint32_t p_frag[4] = {simt::bf16_pair_fast(score[2 * s][0], score[2 * s][1]),
                                  simt::bf16_pair_fast(score[2 * s][2], score[2 * s][3]),
                                  simt::bf16_pair_fast(score[2 * s + 1][0], score[2 * s + 1][1]),
                                  simt::bf16_pair_fast(score[2 * s + 1][2], score[2 * s + 1][3])};
      VCAP_UNROLL
      for (int o = 0; o < kOutTiles; ++o) {
        const uint32_t* value_row = values_t + (o * 8 + g) * kMmaValuePitch;
        const int swizzle = o & 3;  // value_swizzle(o * 8 + g): the fragment's rows share d / 8
        simt::mma_bf16_16x8x16(out[o], p_frag, value_row[(8 * s + t) ^ swizzle],
                               value_row[(8 * s + 4 + t) ^ swizzle]);
      }
    }
  }

  VCAP_UNROLL
  for (int h = 0; h < 2; ++h) {
    float total = sum[h] + simt::shuffle_xor(sum[h], 1);
    total += simt::shuffle_xor(total, 2);
    if (row[h] >= block.q_count) continue;
    if (item.partial < 0) {
      const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
      const int64_t out_row = block.q_begin + row[h];
      const int64_t column = kv_column * group + (query[h] % group) * kDim + 2 * t;
      VCAP_UNROLL
      for (int o = 0; o < kOutTiles; ++o) {
        store_output(args, out_row, column + 8 * o, out[o][2 * h] * inverse);
        store_output(args, out_row, column + 8 * o + 1, out[o][2 * h + 1] * inverse);
      }
    } else {
      const int lane = warp * 16 + g + 8 * h;
      float* state =
          args.partials + (static_cast<int64_t>(item.partial) * kAttentionTileLanes + lane) *
                              attention_partial_stride(kDim);
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
  merge_if_last_part<(kDim + 31) / 32>(args, index, reinterpret_cast<float*>(shared));
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_MMA_H_
