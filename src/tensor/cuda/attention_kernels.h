// What the GPU attention's kernel bodies share (attention_f32.h, attention_mma.h), and the
// combine step. The bodies are written against simt.h, so that they compile both with nvcc
// (attention.cu wraps each in a __global__ function) and with the host compiler for the tests'
// SIMT emulator: every attention kernel is checked on machines without a GPU too. Work items
// and partial slots: attention.h, attention_types.h.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_KERNELS_H_
#define VCAP_TENSOR_CUDA_ATTENTION_KERNELS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tensor/cuda/attention_types.h"
#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kAttentionThreads = 128;  // 4 warps per thread block, both kernels

// The head dims the tensor-core kernel (attention_mma.h) is built for.
VCAP_HOST_DEVICE constexpr bool attention_mma_supports(int head_dim) {
  return head_dim == 64 || head_dim == 80 || head_dim == 128;
}

// Resident thread blocks per multiprocessor the tensor-core kernel is built for (its launch
// bounds): three (12 warps to hide the tile loads) where the registers allow it without spills,
// two at head_dim 128 (ptxas -v: 243 registers; 168 would spill).
VCAP_HOST_DEVICE constexpr int attention_mma_blocks_per_sm(int head_dim) {
  return head_dim == 128 ? 2 : 3;
}

// Calls the kernel choice for a launch with `head_dim` and `bf16_products`, and returns what it
// returns: `mma(std::integral_constant<int, head_dim>)` for the tensor-core kernel, else
// `f32(std::integral_constant<int, slots>)` for the f32 kernel with head_dim <= 32 * slots
// output columns per thread. The one choice both for the GPU (attention.cu) and for the tests'
// emulator.
template <class Mma, class F32>
auto with_attention_kernel(int head_dim, bool bf16_products, Mma&& mma, F32&& f32) {
  if (bf16_products && attention_mma_supports(head_dim)) {
    if (head_dim == 64) return mma(std::integral_constant<int, 64>{});
    if (head_dim == 80) return mma(std::integral_constant<int, 80>{});
    return mma(std::integral_constant<int, 128>{});
  }
  switch ((head_dim + simt::kWarpSize - 1) / simt::kWarpSize) {
    case 1:
      return f32(std::integral_constant<int, 1>{});
    case 2:
      return f32(std::integral_constant<int, 2>{});
    case 3:
      return f32(std::integral_constant<int, 3>{});
    default:
      return f32(std::integral_constant<int, 4>{});
  }
}

// out[row][column] = value, rounded to bf16 when the launch writes bf16.
VCAP_SIMT_FN void store_output(const AttentionLaunch& args, int64_t row, int64_t column,
                               float value) {
  const int64_t index = row * args.out_stride + column;
  if (args.out_bf16) {
    static_cast<uint16_t*>(args.out)[index] = static_cast<uint16_t>(simt::bf16_bits(value));
  } else {
    static_cast<float*>(args.out)[index] = value;
  }
}

// Where query lane `query` of kv head `kv_head` lies in a row of q and out: its kv head's group of
// query heads, then its place in the group (lane = row * group + head in group).
VCAP_SIMT_FN int64_t head_column(int64_t kv_head, int64_t query, int group, int head_dim) {
  return (kv_head * group + query % group) * head_dim;
}

// Lane `lane`'s softmax state in partial slot `partial`: its max, its sum, then head_dim
// unnormalised outputs (attention_partial_stride floats in all).
VCAP_SIMT_FN float* partial_state(const AttentionLaunch& args, int64_t partial, int lane,
                                  int head_dim) {
  return args.partials +
         (partial * kAttentionTileLanes + lane) * attention_partial_stride(head_dim);
}

// Keys [0, end) are visible to block-relative query row `row`; 0 for rows outside the block.
VCAP_SIMT_FN int64_t visible_end(const AttentionBlockDesc& block, int64_t row) {
  if (row >= block.q_count) return 0;
  if (!block.causal) return block.k_count;
  const int64_t end = row + block.causal_offset + 1;
  return end < 0 ? 0 : (end > block.k_count ? block.k_count : end);
}

// Element `i` of a K or V row as f32 (bf16 widened exactly).
VCAP_SIMT_FN float kv_element(const void* row, bool bf16, int64_t i) {
  if (bf16)
    return simt::float_of(static_cast<uint32_t>(static_cast<const uint16_t*>(row)[i]) << 16);
  return static_cast<const float*>(row)[i];
}

// e^(max - top) of a partial state whose max is `max` (units of scale * q.k); 0 for a state that
// saw no key.
VCAP_SIMT_FN float partial_weight(float max, float top) {
  return max == -INFINITY ? 0.0f : expf(max - top);
}

// Merges the partial states of combine item `index` into the output: out = sum_p acc_p *
// e^(max_p - M) / sum_p sum_p * e^(max_p - M), M the largest max; a lane that saw no key gets
// zeros. One warp per lane: its threads take the partials 32 at a time for the max and the
// total, then the columns (32 apart) for the weighted sum, with a group's weights in `shared`
// (kAttentionThreads words: one weight per partial of a group of 32, per warp). A decode step's
// combine has a few lanes and up to hundreds of partials. The states were stored by other thread
// blocks of the same launch: they are read past L1 (load_l2).
// kColumnsPerThread: head_dim / 32 rounded up, at most. Out of line: inlined in the head_dim 80
// kernel, ptxas spilled registers (sm_80, sm_90).
template <int kColumnsPerThread>
VCAP_SIMT_COLD_FN void attention_combine_block(const AttentionLaunch args, int index,
                                               float* shared) {
  constexpr int kWarps = kAttentionThreads / simt::kWarpSize;
  const AttentionCombine item = args.combines[index];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int dim = args.head_dim;
  const int warp = simt::thread_rank() / simt::kWarpSize;
  const int thread = simt::thread_rank() % simt::kWarpSize;
  float* weights = shared + warp * simt::kWarpSize;
  for (int t = warp; t < kAttentionTileLanes; t += kWarps) {
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / args.group;
    if (row >= block.q_count) continue;  // the same for the whole warp
    const auto state = [&](int p) {
      return partial_state(args, static_cast<int64_t>(item.first_partial) + p, t, dim);
    };
    float top = -INFINITY;
    for (int p = thread; p < item.count; p += simt::kWarpSize) {
      top = fmaxf(top, simt::load_l2(state(p)));
    }
    top = simt::warp_max(top);
    float total = 0.0f;
    for (int p = thread; p < item.count; p += simt::kWarpSize) {
      total += simt::load_l2(state(p) + 1) * partial_weight(simt::load_l2(state(p)), top);
    }
    total = simt::warp_sum(total);

    // The weighted sum takes kBatch partials at a time, every load of a batch issued before any
    // is used: one L2 round trip per batch rather than one per partial (a decode step's merge
    // is the last thing its launch waits for).
    constexpr int kBatch = 8;
    float value[kColumnsPerThread] = {};
    for (int group = 0; group < item.count; group += simt::kWarpSize) {
      const int p = group + thread;
      weights[thread] = p < item.count ? partial_weight(simt::load_l2(state(p)), top) : 0.0f;
      simt::sync_warp();
      for (int j = 0; j < simt::kWarpSize && group + j < item.count; j += kBatch) {
        float loaded[kBatch][kColumnsPerThread];
        VCAP_UNROLL
        for (int b = 0; b < kBatch; ++b) {
          VCAP_UNROLL
          for (int k = 0; k < kColumnsPerThread; ++k) {
            const int d = thread + k * simt::kWarpSize;
            loaded[b][k] = group + j + b < item.count && d < dim
                               ? simt::load_l2(state(group + j + b) + 2 + d)
                               : 0.0f;
          }
        }
        VCAP_UNROLL
        for (int b = 0; b < kBatch; ++b) {
          VCAP_UNROLL
          for (int k = 0; k < kColumnsPerThread; ++k) value[k] += loaded[b][k] * weights[j + b];
        }
      }
      simt::sync_warp();  // every thread has read the group's weights
    }
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    const int64_t column = head_column(item.kv_head, query, args.group, dim);
    VCAP_UNROLL
    for (int k = 0; k < kColumnsPerThread; ++k) {
      const int d = thread + k * simt::kWarpSize;
      if (d < dim) store_output(args, block.q_begin + row, column + d, value[k] * inverse);
    }
  }
}

// The end of a main-kernel block (every thread calls it) whose item may be one part of a split
// key range, its state stored in its partial slot: the block that stores the last part of a
// combine merges them all (attention_combine_block, after simt::arrived_last), so that no second
// kernel waits for every part of every range. `shared`: the block's shared memory, no longer in
// use (kAttentionThreads words at least: both main kernels have more).
// The item is read again here rather than kept in registers through the kernel's tile loop.
template <int kColumnsPerThread>
VCAP_SIMT_FN void merge_if_last_part(const AttentionLaunch& args, int index, float* shared) {
  const AttentionItem item = args.items[index];
  if (item.partial < 0) return;  // the same for the whole block
  if (!simt::arrived_last(&args.arrivals[item.combine], args.combines[item.combine].count,
                          reinterpret_cast<uint32_t*>(shared))) {
    return;
  }
  attention_combine_block<kColumnsPerThread>(args, item.combine, shared);
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_KERNELS_H_
