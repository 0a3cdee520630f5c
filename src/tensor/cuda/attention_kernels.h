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

// Merges the partial states of combine item `index` into the output: out = sum_p acc_p *
// e^(max_p - M) / sum_p sum_p * e^(max_p - M), M the largest max; a lane that saw no key gets
// zeros.
VCAP_SIMT_FN void attention_combine_block(const AttentionLaunch& args, int index) {
  const AttentionCombine item = args.combines[index];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int dim = args.head_dim;
  const int64_t stride = attention_partial_stride(dim);
  const float* first =
      args.partials + static_cast<int64_t>(item.first_partial) * kAttentionTileLanes * stride;
  for (int i = simt::thread_rank(); i < kAttentionTileLanes * dim; i += kAttentionThreads) {
    const int t = i / dim;
    const int d = i % dim;
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / args.group;
    if (row >= block.q_count) continue;
    float top = -INFINITY;
    for (int p = 0; p < item.count; ++p)
      top = fmaxf(top, first[(p * kAttentionTileLanes + t) * stride]);
    float total = 0.0f;
    float value = 0.0f;
    for (int p = 0; p < item.count; ++p) {
      const float* state = first + (p * kAttentionTileLanes + t) * stride;
      const float weight = state[0] == -INFINITY ? 0.0f : expf(state[0] - top);
      total += state[1] * weight;
      value += state[2 + d] * weight;
    }
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    store_output(
        args, block.q_begin + row,
        static_cast<int64_t>(item.kv_head) * dim * args.group + (query % args.group) * dim + d,
        value * inverse);
  }
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_KERNELS_H_
