#include "model/decoder_layer.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "model/workspace_plan.h"

namespace vcap::model {
namespace {

using tensor::MatmulAccumulate;
using tensor::TensorView;

template <class T>
Status assign(Result<T> r, T& out) {
  if (!r.ok()) return r.status();
  out = std::move(r).value();
  return Status();
}

WorkspacePlan<TextWorkspace> workspace_plan(const TextDims& dims, int64_t rows,
                                            tensor::DType weights) {
  const auto f32 = tensor::DType::kF32;
  return {
      {&TextWorkspace::normed, weights, rows, dims.hidden_size},
      {&TextWorkspace::qkv, f32, rows, dims.q_dim() + 2 * dims.kv_dim()},
      {&TextWorkspace::attn, weights, rows, dims.q_dim()},
      {&TextWorkspace::gate_up, f32, rows, 2 * dims.intermediate_size},
      {&TextWorkspace::act, weights, rows, dims.intermediate_size},
      {&TextWorkspace::cos, f32, rows, dims.head_dim() / 2},
      {&TextWorkspace::sin, f32, rows, dims.head_dim() / 2},
  };
}

}  // namespace

tensor::AttentionParams text_attention_params(const TextDims& dims, tensor::DType weights) {
  const int head_dim = static_cast<int>(dims.head_dim());
  return {static_cast<int>(dims.num_heads), static_cast<int>(dims.num_kv_heads), head_dim,
          1.0f / std::sqrt(static_cast<float>(head_dim)), weights == tensor::DType::kBF16};
}

Result<TextWorkspace> TextWorkspace::allocate(tensor::Backend& backend, const TextDims& dims,
                                              int64_t rows, tensor::DType weights) {
  TextWorkspace ws;
  ws.rows = rows;
  if (Status s = allocate_plan(backend, workspace_plan(dims, rows, weights), ws); !s.ok()) {
    return s.with_context("text workspace");
  }
  return ws;
}

int64_t TextWorkspace::bytes(const TextDims& dims, int64_t rows, tensor::DType weights) {
  return plan_bytes(workspace_plan(dims, rows, weights));
}

Result<DecoderLayer> DecoderLayer::load(WeightLoader& loader, const TextDims& dims, int64_t index) {
  const std::string p = "model.layers." + std::to_string(index) + ".";
  const int64_t h = dims.hidden_size;
  const int64_t q = dims.q_dim();
  const int64_t kv = dims.kv_dim();
  const int64_t inter = dims.intermediate_size;
  DecoderLayer layer;
  Status s;
  if (s = assign(loader.vector(p + "input_layernorm.weight", h), layer.input_norm); !s.ok())
    return s;
  // q, k and v share their input: one GEMM with the three matrices stacked.
  s = assign(loader.stacked_matrix({p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                                    p + "self_attn.v_proj.weight"},
                                   {q, kv, kv}, h),
             layer.qkv);
  if (!s.ok()) return s;
  s = assign(loader.stacked_vector({p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias",
                                    p + "self_attn.v_proj.bias"},
                                   {q, kv, kv}),
             layer.qkv_bias);
  if (!s.ok()) return s;
  if (s = assign(loader.matrix(p + "self_attn.o_proj.weight", h, q), layer.o_proj); !s.ok())
    return s;
  if (s = assign(loader.vector(p + "post_attention_layernorm.weight", h), layer.post_norm); !s.ok())
    return s;
  s = assign(loader.stacked_matrix({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"},
                                   {inter, inter}, h),
             layer.gate_up);
  if (!s.ok()) return s;
  if (s = assign(loader.matrix(p + "mlp.down_proj.weight", h, inter), layer.down); !s.ok())
    return s;
  return layer;
}

void DecoderLayer::forward(tensor::Backend& backend, const TextDims& dims, TextWorkspace& ws,
                           int64_t layer, TensorView hidden,
                           std::span<const SequenceRows> sequences) const {
  const int64_t n = hidden.rows;
  const int64_t q_dim = dims.q_dim();
  const int64_t kv_dim = dims.kv_dim();
  const int64_t inter = dims.intermediate_size;
  const int heads = static_cast<int>(dims.num_heads);
  const int kv_heads = static_cast<int>(dims.num_kv_heads);
  const int head_dim = static_cast<int>(dims.head_dim());
  const TensorView normed = ws.normed.view().rows_slice(0, n);
  const TensorView qkv_out = ws.qkv.view().rows_slice(0, n);
  const TensorView attn = ws.attn.view().rows_slice(0, n);
  const TensorView cos = ws.cos.view().rows_slice(0, n);
  const TensorView sin = ws.sin.view().rows_slice(0, n);

  // spec §11.1: a = RMSNorm_in(x); q, k, v with biases; M-RoPE on q and k.
  backend.rms_norm(normed, hidden, input_norm.view(), dims.rms_norm_eps);
  backend.matmul(qkv_out, normed, qkv, qkv_bias.view());
  const TensorView q = qkv_out.cols_slice(0, q_dim);
  const TensorView k = qkv_out.cols_slice(q_dim, kv_dim);
  const TensorView v = qkv_out.cols_slice(q_dim + kv_dim, kv_dim);
  // k's heads follow q's, with the same angles per row: one rotary over both.
  backend.rotary(qkv_out.cols_slice(0, q_dim + kv_dim), cos, sin, heads + kv_heads, head_dim);

  // Append k, v to each sequence's cache, one op for the whole batch; every sequence attends
  // causally to its own cache.
  std::vector<tensor::CopyPair> appends;
  std::vector<tensor::AttentionBlock> blocks;
  appends.reserve(2 * sequences.size());
  blocks.reserve(sequences.size());
  for (const SequenceRows& seq : sequences) {
    const int64_t past = seq.cache->length();
    const TensorView keys = seq.cache->keys(layer);
    const TensorView values = seq.cache->values(layer);
    appends.push_back(
        {keys.rows_slice(past, seq.row_count), k.rows_slice(seq.row_begin, seq.row_count)});
    appends.push_back(
        {values.rows_slice(past, seq.row_count), v.rows_slice(seq.row_begin, seq.row_count)});
    blocks.push_back({seq.row_begin, seq.row_count, keys.rows_slice(0, past + seq.row_count),
                      values.rows_slice(0, past + seq.row_count), true, past});
  }
  backend.copy_batch(appends);
  backend.attention(attn, q, blocks, text_attention_params(dims, qkv.dtype()));
  // x = x + o·Woᵀ (no bias), residual fused into the GEMM.
  backend.matmul(hidden, attn, o_proj, std::nullopt, MatmulAccumulate::kAddToOut);

  // x = x + down(silu(gate(b)) * up(b)), b = RMSNorm_post(x).
  const TensorView gate_up_out = ws.gate_up.view().rows_slice(0, n);
  const TensorView act = ws.act.view().rows_slice(0, n);
  backend.rms_norm(normed, hidden, post_norm.view(), dims.rms_norm_eps);
  backend.matmul(gate_up_out, normed, gate_up);
  backend.silu_mul(act, gate_up_out.cols_slice(0, inter), gate_up_out.cols_slice(inter, inter));
  backend.matmul(hidden, act, down, std::nullopt, MatmulAccumulate::kAddToOut);
}

}  // namespace vcap::model
