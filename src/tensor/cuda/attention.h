// Attention on the GPU (tensor/backend.h Backend::attention): flash-attention-style kernels
// (online softmax over tiles of 64 keys in shared memory; no score matrix in device memory),
// with key ranges split across thread blocks where that fills the GPU. Two kernels:
//  - with AttentionParams::bf16_products and a head_dim the tensor-core kernel is built for
//    (64, 80, 128), both products run as bf16 mma.sync with f32 accumulation, rounding as the
//    CPU's bf16 attention does (the bf16 model path; attention_mma.h);
//  - otherwise f32 on CUDA cores (the f32 parity path, and any head_dim up to 128;
//    attention_f32.h).
// The kernel bodies also compile for the CPU tests' SIMT emulator (attention_kernels.h).
//
// Work is cut on the host (attention_plan.h) into items, one per thread block: 64 query
// "lanes" of one block and one kv head, lane = row * group + head-in-group (group = num_heads /
// num_kv_heads), so that the query heads sharing a kv head share every K/V tile load (GQA), and
// a decode step (one row) still fills `group` lanes. When there are too few items to fill the
// GPU (decode, short batches), an item's key range is split: each part writes its softmax state
// (max, sum, unnormalised output) to a scratch buffer, and the thread block that finishes the
// last part of a range merges them (merge_if_last_part, attention_kernels.h): one launch per call,
// the merge started as soon as its parts are in rather than after every part of every range.
//
// The structs the host planner and the kernels share are in attention_types.h.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_H_
#define VCAP_TENSOR_CUDA_ATTENTION_H_

#include <cuda_runtime_api.h>

#include "tensor/cuda/attention_types.h"

namespace vcap::tensor::cuda {

// Queues the kernel (tensor cores when launch.bf16_products and
// attention_mma_supports(launch.head_dim)) on `stream`; returns the launch error.
cudaError_t launch_attention(cudaStream_t stream, const AttentionLaunch& launch);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_H_
