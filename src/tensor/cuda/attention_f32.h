// The f32 attention kernel body on CUDA cores (the f32 parity path, and head dims the
// tensor-core kernel is not built for; attention_kernels.h says how it is built and checked).
// Each warp owns 16 of the item's 64 lanes; per tile of 64 keys each thread scores keys `lane`
// and `lane + 32` for its warp's 16 lanes, the online softmax runs on those scores, and P goes
// through shared memory for P.V, where each thread accumulates output columns lane + 32 * slot.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_F32_H_
#define VCAP_TENSOR_CUDA_ATTENTION_F32_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "tensor/cuda/attention_kernels.h"
#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kF32RowsPerWarp = kAttentionTileLanes / (kAttentionThreads / simt::kWarpSize);
constexpr int kF32ScorePitch =
    kAttentionTileLanes + 4;  // float4 stores of 8 threads: 8 bank groups
static_assert(kF32RowsPerWarp == 16 && kAttentionTileKeys == 2 * simt::kWarpSize);

// Shared-memory layout of the f32 kernel (floats): Q [64][pitch], K [64][pitch],
// V [64][vector_dim], P [64 keys][kF32ScorePitch].
struct AttentionF32Layout {
  int dim4;        // head_dim rounded up to a multiple of 4 (the dot products run over it)
  int pitch;       // row pitch of Q and K: dim4, made an odd number of float4s (no conflicts)
  int vector_dim;  // head_dim rounded up to 32: one float per thread and slot

  VCAP_HOST_DEVICE explicit AttentionF32Layout(int head_dim)
      : dim4((head_dim + 3) / 4 * 4),
        pitch((dim4 / 4) % 2 == 1 ? dim4 : dim4 + 4),
        vector_dim((head_dim + simt::kWarpSize - 1) / simt::kWarpSize * simt::kWarpSize) {}

  VCAP_HOST_DEVICE size_t bytes() const {
    return sizeof(float) * (static_cast<size_t>(kAttentionTileLanes + kAttentionTileKeys) * pitch +
                            static_cast<size_t>(kAttentionTileKeys) * vector_dim +
                            static_cast<size_t>(kAttentionTileKeys) * kF32ScorePitch);
  }
};

// Rows [first, first + rows) of a block's keys or values of one kv head into shared memory
// rows of `pitch`, zero-filling columns [dim, width) and rows [count_valid, rows). Rows are
// spread over the warps, columns over the threads of a warp (coalesced reads).
VCAP_SIMT_FN void load_f32_tile(float* dst, int pitch, int width, const void* src,
                                int64_t src_stride, bool bf16, int64_t first, int64_t column,
                                int count_valid, int rows, int dim) {
  constexpr int kWarps = kAttentionThreads / simt::kWarpSize;
  const int warp = simt::thread_rank() / simt::kWarpSize;
  const int lane = simt::thread_rank() % simt::kWarpSize;
  const size_t element_bytes = bf16 ? 2 : 4;
  for (int r = warp; r < rows; r += kWarps) {
    const void* row = static_cast<const unsigned char*>(src) +
                      ((first + r) * src_stride + column) * static_cast<int64_t>(element_bytes);
    for (int d = lane; d < width; d += simt::kWarpSize) {
      dst[r * pitch + d] = (r < count_valid && d < dim) ? kv_element(row, bf16, d) : 0.0f;
    }
  }
}

// Thread block `index` of the f32 kernel; `shared` holds AttentionF32Layout(head_dim).bytes(),
// 16-byte aligned. kSlots: output columns per thread and lane, head_dim <= 32 * kSlots.
template <int kSlots>
VCAP_SIMT_FN void attention_f32_block(const AttentionLaunch& args, int index, float* shared) {
  constexpr float kMinusInf = -INFINITY;
  constexpr int kWarpSize = simt::kWarpSize;
  constexpr int kRows = kF32RowsPerWarp;
  constexpr int kLanes = kAttentionTileLanes;
  constexpr int kKeys = kAttentionTileKeys;
  constexpr int kWarps = kAttentionThreads / kWarpSize;
  using simt::Float4;
  const AttentionF32Layout layout(args.head_dim);
  float* const qs = shared;
  float* const ks = qs + kLanes * layout.pitch;
  float* const vs = ks + kKeys * layout.pitch;
  float* const ps = vs + kKeys * layout.vector_dim;

  const AttentionItem item = args.items[index];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int warp = simt::thread_rank() / kWarpSize;
  const int lane = simt::thread_rank() % kWarpSize;
  const int group = args.group;
  const int dim = args.head_dim;
  const int64_t kv_column = static_cast<int64_t>(item.kv_head) * dim;

  // Q tile: lane t of the tile is query row (lane_begin + t) / group, head-in-group the rest.
  for (int t = warp; t < kLanes; t += kWarps) {
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / group;
    const int64_t column = head_column(item.kv_head, query, group, dim);
    const bool valid = row < block.q_count;
    const float* src = args.q + (block.q_begin + (valid ? row : 0)) * args.q_stride + column;
    for (int d = lane; d < layout.dim4; d += kWarpSize) {
      qs[t * layout.pitch + d] = (valid && d < dim) ? src[d] : 0.0f;
    }
  }

  // Per thread: the 16 lanes of its warp; scores of keys `lane` and `lane + 32` of a tile;
  // output columns lane + 32 * slot.
  int64_t end[kRows];
  float max[kRows];
  float sum[kRows];  // this thread's keys only; summed over the warp at the end
  float acc[kRows][kSlots];
  VCAP_UNROLL
  for (int r = 0; r < kRows; ++r) {
    end[r] = visible_end(block, (item.lane_begin + warp * kRows + r) / group);
    max[r] = kMinusInf;
    sum[r] = 0.0f;
    VCAP_UNROLL
    for (int s = 0; s < kSlots; ++s) acc[r][s] = 0.0f;
  }

  for (int64_t tile = item.key_begin; tile < item.key_end; tile += kKeys) {
    const int count = static_cast<int>(item.key_end - tile < kKeys ? item.key_end - tile : kKeys);
    simt::sync_block();  // every warp is done with the previous K/V tile (and Q is written)
    load_f32_tile(ks, layout.pitch, layout.dim4, block.k, block.k_stride, block.kv_bf16 != 0, tile,
                  kv_column, count, kKeys, dim);
    load_f32_tile(vs, layout.vector_dim, layout.vector_dim, block.v, block.v_stride,
                  block.kv_bf16 != 0, tile, kv_column, count, kKeys, dim);
    simt::sync_block();

    // Scores of this warp's 16 lanes against keys `lane` and `lane + 32`.
    float score[kRows][2];
    VCAP_UNROLL
    for (int r = 0; r < kRows; ++r) score[r][0] = score[r][1] = 0.0f;
    const float* k0 = ks + lane * layout.pitch;
    const float* k1 = ks + (lane + kWarpSize) * layout.pitch;
    const float* q_warp = qs + warp * kRows * layout.pitch;
    for (int d = 0; d < layout.dim4; d += 4) {
      const Float4 a = *reinterpret_cast<const Float4*>(k0 + d);
      const Float4 b = *reinterpret_cast<const Float4*>(k1 + d);
      VCAP_UNROLL
      for (int r = 0; r < kRows; ++r) {
        const Float4 q = *reinterpret_cast<const Float4*>(q_warp + r * layout.pitch + d);
        score[r][0] += q.x * a.x + q.y * a.y + q.z * a.z + q.w * a.w;
        score[r][1] += q.x * b.x + q.y * b.y + q.z * b.z + q.w * b.w;
      }
    }

    // Online softmax: rescale what was accumulated to the new running max.
    VCAP_UNROLL
    for (int r = 0; r < kRows; ++r) {
      const bool see0 = lane < count && tile + lane < end[r];
      const bool see1 = lane + kWarpSize < count && tile + lane + kWarpSize < end[r];
      const float s0 = see0 ? score[r][0] * args.scale : kMinusInf;
      const float s1 = see1 ? score[r][1] * args.scale : kMinusInf;
      const float new_max = fmaxf(max[r], simt::warp_max(fmaxf(s0, s1)));
      // With no visible key yet the max is -inf: subtract 0 instead, so exp gives 0, not NaN.
      const float base = new_max == kMinusInf ? 0.0f : new_max;
      const float correction = expf(max[r] - base);
      const float p0 = expf(s0 - base);
      const float p1 = expf(s1 - base);
      sum[r] = sum[r] * correction + p0 + p1;
      VCAP_UNROLL
      for (int s = 0; s < kSlots; ++s) acc[r][s] *= correction;
      max[r] = new_max;
      score[r][0] = p0;
      score[r][1] = p1;
    }
    // P[key][lane of the tile], four lanes per float4 store.
    VCAP_UNROLL
    for (int r = 0; r < kRows; r += 4) {
      const int column = warp * kRows + r;
      *reinterpret_cast<Float4*>(ps + lane * kF32ScorePitch + column) =
          simt::float4_of(score[r][0], score[r + 1][0], score[r + 2][0], score[r + 3][0]);
      *reinterpret_cast<Float4*>(ps + (lane + kWarpSize) * kF32ScorePitch + column) =
          simt::float4_of(score[r][1], score[r + 1][1], score[r + 2][1], score[r + 3][1]);
    }
    simt::sync_warp();  // a warp reads only the P columns it wrote

    for (int j = 0; j < count; ++j) {
      float v[kSlots];
      VCAP_UNROLL
      for (int s = 0; s < kSlots; ++s) v[s] = vs[j * layout.vector_dim + lane + s * kWarpSize];
      const float* p_row = ps + j * kF32ScorePitch + warp * kRows;
      VCAP_UNROLL
      for (int r = 0; r < kRows; r += 4) {
        const Float4 p = *reinterpret_cast<const Float4*>(p_row + r);
        VCAP_UNROLL
        for (int s = 0; s < kSlots; ++s) {
          acc[r][s] += p.x * v[s];
          acc[r + 1][s] += p.y * v[s];
          acc[r + 2][s] += p.z * v[s];
          acc[r + 3][s] += p.w * v[s];
        }
      }
    }
    simt::sync_warp();  // P is rewritten by the next tile
  }

  VCAP_UNROLL
  for (int r = 0; r < kRows; ++r) {
    const int t = warp * kRows + r;
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / group;
    const float total = simt::warp_sum(sum[r]);
    if (row >= block.q_count) continue;
    if (item.partial < 0) {
      const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
      const int64_t column = head_column(item.kv_head, query, group, dim);
      VCAP_UNROLL
      for (int s = 0; s < kSlots; ++s) {
        const int d = lane + s * kWarpSize;
        if (d < dim) store_output(args, block.q_begin + row, column + d, acc[r][s] * inverse);
      }
    } else {
      float* state = partial_state(args, item.partial, t, dim);
      if (lane == 0) {
        state[0] = max[r];
        state[1] = total;
      }
      VCAP_UNROLL
      for (int s = 0; s < kSlots; ++s) state[2 + lane + s * kWarpSize] = acc[r][s];
    }
  }
  merge_if_last_part<kSlots>(args, index, shared);
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_F32_H_
