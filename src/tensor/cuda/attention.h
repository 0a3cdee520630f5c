// Attention on the GPU (tensor/backend.h Backend::attention): a flash-attention-style kernel in
// f32 on CUDA cores (online softmax, tiles of 64 keys in shared memory; no score matrix in
// device memory), plus a combine kernel for key ranges split across thread blocks.
//
// Work is cut on the host (attention_plan.h) into items, one per thread block: 64 query
// "lanes" of one block and one kv head, lane = row * group + head-in-group (group = num_heads /
// num_kv_heads), so that the query heads sharing a kv head share every K/V tile load (GQA), and
// a decode step (one row) still fills `group` lanes. When there are too few items to fill the
// GPU (decode, short batches), an item's key range is split: each part writes its softmax state
// (max, sum, unnormalised output) to a scratch buffer and the combine kernel merges the parts.
//
// The structs below are shared by the host planner and the kernels (plain data, 8-byte
// aligned); arrays of them are uploaded to the device for each call.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_H_
#define VCAP_TENSOR_CUDA_ATTENTION_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace vcap::tensor::cuda {

constexpr int kAttentionTileLanes = 64;   // query lanes per thread block
constexpr int kAttentionTileKeys = 64;    // keys per shared-memory tile
constexpr int kAttentionMaxHeadDim = 128;

// One AttentionBlock as the kernels read it.
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
// else write the softmax state to partial slot `partial`.
struct AttentionItem {
  int64_t lane_begin;
  int32_t block;
  int32_t kv_head;
  int32_t key_begin;
  int32_t key_end;
  int32_t partial;
  int32_t padding;
};

// One thread block of the combine kernel: merges partial slots [first_partial,
// first_partial + count) of the same lanes into the output.
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
  float* out;
  int64_t out_stride;
  float* partials;  // partial_count * kAttentionTileLanes * (vector_dim + 2) floats
  const AttentionBlockDesc* blocks;
  const AttentionItem* items;
  const AttentionCombine* combines;
  int item_count;
  int combine_count;
  int group;     // num_heads / num_kv_heads
  int head_dim;  // <= kAttentionMaxHeadDim
  float scale;
};

// Floats of one partial slot for `head_dim`: per lane its max, its sum and its output vector
// (head_dim rounded up to a multiple of 32).
int64_t attention_partial_floats(int head_dim);

// Queues the main kernel and, if there are combines, the combine kernel on `stream`; returns
// the first launch error.
cudaError_t launch_attention(cudaStream_t stream, const AttentionLaunch& launch);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_H_
