// The plain data that the host planner (attention_plan.h) and the attention kernels share
// (attention.h describes the scheme). No CUDA header outside nvcc: the planner and the SIMT
// emulator build without the toolkit. Arrays of these structs are uploaded to the device for each
// call.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_TYPES_H_
#define VCAP_TENSOR_CUDA_ATTENTION_TYPES_H_

#include <cstdint>

#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kAttentionTileLanes = 64;  // query lanes per thread block
constexpr int kAttentionTileKeys = 64;   // keys per shared-memory tile
constexpr int kAttentionMaxHeadDim = 128;

// One AttentionBlock as the kernels read it (all structs: plain data, 8-byte aligned).
struct AttentionBlockDesc {
  const void* k;  // row 0 of the block's keys, kv head 0: f32, or bf16 when kv_bf16
  const void* v;
  int64_t k_stride;  // elements between key rows
  int64_t v_stride;
  int64_t q_begin;
  int64_t q_count;
  int64_t k_count;
  int64_t causal_offset;
  int32_t causal;   // 0 or 1
  int32_t kv_bf16;  // 0: k and v are f32; 1: bf16 (the bf16 model's KV cache)
};

// One thread block of the main kernel: lanes [lane_begin, lane_begin + 64) of block `block`
// and kv head `kv_head`, keys [key_begin, key_end). partial < 0: write the normalised output;
// else write the softmax state to partial slot `partial`, one of the parts of combine `combine`.
struct AttentionItem {
  int64_t lane_begin;
  int32_t block;
  int32_t kv_head;
  int32_t key_begin;
  int32_t key_end;
  int32_t partial;
  int32_t combine;  // -1 when partial < 0
};

// The parts of one split key range: partial slots [first_partial, first_partial + count) of the
// same lanes, merged into the output by the main kernel's block that finishes the last of them.
struct AttentionCombine {
  int64_t lane_begin;
  int32_t block;
  int32_t kv_head;
  int32_t first_partial;
  int32_t count;
};

// Everything a launch needs. Device pointers: q, out, partials and the three tables.
struct AttentionLaunch {
  const float* q;  // row 0, column 0 of the query matrix
  int64_t q_stride;
  void* out;  // f32, or bf16 when out_bf16 (a bf16 matmul's input, tensor/backend.h)
  int64_t out_stride;
  float* partials;  // partial_count * attention_partial_floats(head_dim) floats
  const AttentionBlockDesc* blocks;
  const AttentionItem* items;
  const AttentionCombine* combines;
  int32_t* arrivals;  // per combine: its parts finished so far; zero before and after a launch
  int item_count;
  int combine_count;
  int group;     // num_heads / num_kv_heads
  int head_dim;  // <= kAttentionMaxHeadDim
  float scale;
  int32_t bf16_products;  // 1: the tensor-core kernel where it supports head_dim
  int32_t out_bf16;       // 1: out holds bf16 values rounded to nearest even
  int32_t warp_keys;      // 1: every block's lanes (q_count * group) fit one warp's 16
};

// Floats of one lane's softmax state in a partial slot for `head_dim`: its max, its sum and its
// output vector (head_dim rounded up to a multiple of 32).
VCAP_HOST_DEVICE constexpr int64_t attention_partial_stride(int head_dim) {
  return (head_dim + 31) / 32 * 32 + 2;
}

// Floats of one partial slot (kAttentionTileLanes lanes).
VCAP_HOST_DEVICE constexpr int64_t attention_partial_floats(int head_dim) {
  return kAttentionTileLanes * attention_partial_stride(head_dim);
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_TYPES_H_
