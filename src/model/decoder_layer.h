// One Qwen2 decoder layer (spec/QWEN2VL.md §11.1): RMSNorm, q/k/v with bias, M-RoPE, causal
// GQA attention over the KV cache, o_proj, residual, RMSNorm, SwiGLU MLP, residual.
//
// The layer runs on a batch of rows that may belong to several sequences (continuous batching):
// each SequenceRows names a contiguous row range and that sequence's cache. The new K/V rows are
// appended to each cache at its current length; the caller advances the caches after the last
// layer.
#ifndef VCAP_MODEL_DECODER_LAYER_H_
#define VCAP_MODEL_DECODER_LAYER_H_

#include <span>

#include "base/status.h"
#include "model/kv_cache.h"
#include "model/model_dims.h"
#include "model/weights.h"
#include "tensor/backend.h"

namespace vcap::model {

// Rows [row_begin, row_begin + row_count) of the batch are the next tokens of the sequence
// whose cache is `cache` (which already holds cache->length() earlier tokens).
struct SequenceRows {
  int64_t row_begin = 0;
  int64_t row_count = 0;
  KvCache* cache = nullptr;
};

// Scratch activations for up to `rows` rows; views are taken with rows_slice(0, n). The
// activations that only feed matmuls (normed, attn, act) are of the weights' dtype: with bf16
// weights the ops that write them round to bf16 there (tensor/backend.h, bf16 matmul inputs).
struct TextWorkspace {
  int64_t rows = 0;
  tensor::Tensor normed;   // [rows, hidden]                               (matmul input)
  tensor::Tensor qkv;      // [rows, q_dim + 2*kv_dim]
  tensor::Tensor attn;     // [rows, q_dim]                                (matmul input)
  tensor::Tensor gate_up;  // [rows, 2*intermediate]
  tensor::Tensor act;      // [rows, intermediate]    silu(gate) * up      (matmul input)
  tensor::Tensor cos;      // [rows, head_dim/2]      M-RoPE table of these rows
  tensor::Tensor sin;      // [rows, head_dim/2]

  // `weights`: the dtype of the decoder's weights.
  static Result<TextWorkspace> allocate(tensor::Backend& backend, const TextDims& dims,
                                        int64_t rows, tensor::DType weights);
  // The bytes allocate() takes.
  static int64_t bytes(const TextDims& dims, int64_t rows, tensor::DType weights);
};

// The decoder's attention (spec §11.1) with `weights` of that dtype: bf16 weights are the bf16
// model path, whose attention may use bf16 products like the reference.
tensor::AttentionParams text_attention_params(const TextDims& dims, tensor::DType weights);

struct DecoderLayer {
  tensor::Tensor input_norm;  // [1, hidden]                      input_layernorm
  tensor::Weight qkv;         // [q_dim + 2*kv_dim, hidden]       q_proj | k_proj | v_proj
  tensor::Tensor qkv_bias;    // [1, q_dim + 2*kv_dim]
  tensor::Weight o_proj;      // [hidden, q_dim], no bias
  tensor::Tensor post_norm;   // [1, hidden]                      post_attention_layernorm
  tensor::Weight gate_up;     // [2*intermediate, hidden]         gate_proj | up_proj
  tensor::Weight down;        // [hidden, intermediate]

  static Result<DecoderLayer> load(WeightLoader& loader, const TextDims& dims, int64_t index);

  // hidden [n, hidden_size] updated in place; ws.cos/ws.sin hold the rows' M-RoPE table.
  // REQUIRES: the sequences cover disjoint row ranges inside [0, n) and each cache has room
  // for its rows.
  void forward(tensor::Backend& backend, const TextDims& dims, TextWorkspace& ws, int64_t layer,
               tensor::TensorView hidden, std::span<const SequenceRows> sequences) const;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_DECODER_LAYER_H_
