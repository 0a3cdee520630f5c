// Attention of a decode step on the CPU: a block with few queries per kv head (one new token:
// num_heads / num_kv_heads queries) over a long bf16 KV cache. Such a step reads every cached
// key and value once for a few FLOPs each, so its speed is the speed at which the cache streams
// from memory (issue #8: the f32 kernel reached about 17 GB/s on a 7,306-token cache).
//
// Keys and values are read in place, as bf16 rows of the cache (no packing pass): a bf16 key row
// already is the pair layout of vdpbf16ps, and two value rows are interleaved into pairs in
// registers. The keys of each (block, kv head) are split into parts run on all threads
// (flash-decoding); each part keeps its own softmax state and a final pass merges them.
//
// Rounding as in attention_bf16.h: q and the softmax weights p are rounded to bf16 for the
// products (k and v already are bf16); scores, max, sum and accumulators are f32.
#ifndef VCAP_TENSOR_CPU_ATTENTION_DECODE_H_
#define VCAP_TENSOR_CPU_ATTENTION_DECODE_H_

#include <span>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

// True when this kernel runs `block`: bf16 keys and values, head_dim a multiple of 32 up to 256,
// and at most 16 queries per kv head (q_count * num_heads / num_kv_heads).
bool attention_decode_supports(const AttentionBlock& block, const AttentionParams& params);

// Backend::attention over `blocks`. REQUIRES: context.avx512_bf16 and
// attention_decode_supports(block, params) for every block; shapes checked by the caller.
void attention_decode(const CpuContext& context, TensorView out, TensorView q,
                      std::span<const AttentionBlock> blocks, const AttentionParams& params);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_DECODE_H_
