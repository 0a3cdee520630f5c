// Multi-head attention over blocks of query rows (Backend::attention), f32, flash-style: keys
// are processed in tiles with an online softmax (running max and sum per query), so memory is
// O(tile) whatever the sequence length. With params.bf16_products and a CPU with AVX512_BF16
// the products run in bf16: decode steps over a bf16 cache stream it in place
// (attention_decode.h), blocks with enough queries pack their keys and values once
// (attention_bf16.h). Otherwise q, k, v are used in f32 (a bf16 cache widened first).
//
// Work is split into tasks (block, kv head, tile of query rows); the queries of one task are
// all (row, query head) pairs that share that kv head, so GQA heads reuse each packed key tile.
// Shapes are checked by the caller (cpu_backend.cpp).
#ifndef VCAP_TENSOR_CPU_ATTENTION_H_
#define VCAP_TENSOR_CPU_ATTENTION_H_

#include <span>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

void attention(const CpuContext& context, TensorView out, TensorView q,
               std::span<const AttentionBlock> blocks, const AttentionParams& params);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_H_
