#include "model/vision_encoder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "model/workspace_plan.h"

namespace vcap::model {
namespace {

using tensor::Activation;
using tensor::MatmulAccumulate;
using tensor::TensorView;

Status assign(Result<tensor::Tensor> r, tensor::Tensor& out) {
  if (!r.ok()) return r.status();
  out = std::move(r).value();
  return Status();
}

Status assign(Result<tensor::Weight> r, tensor::Weight& out) {
  if (!r.ok()) return r.status();
  out = std::move(r).value();
  return Status();
}

WorkspacePlan<VisionWorkspace> workspace_plan(const VisionDims& dims, int64_t rows,
                                              tensor::DType weights) {
  const auto f32 = tensor::DType::kF32;
  const bool act_apart = weights != f32;
  return {
      {&VisionWorkspace::hidden, f32, rows, dims.embed_dim},
      {&VisionWorkspace::normed, weights, rows, dims.embed_dim},
      {&VisionWorkspace::qkv, f32, rows, 3 * dims.embed_dim},
      {&VisionWorkspace::kv, weights, act_apart ? rows : 0, 2 * dims.embed_dim},
      {&VisionWorkspace::attn, weights, rows, dims.embed_dim},
      {&VisionWorkspace::mlp, f32, rows, dims.mlp_hidden},
      {&VisionWorkspace::mlp_act, weights, act_apart ? rows : 0, dims.mlp_hidden},
      {&VisionWorkspace::merged, f32, rows / 4, dims.merged_dim()},
      {&VisionWorkspace::cos, f32, rows, dims.head_dim() / 2},
      {&VisionWorkspace::sin, f32, rows, dims.head_dim() / 2},
      {&VisionWorkspace::pixels, weights, rows, dims.patch_features()},
  };
}

}  // namespace

Result<VisionWorkspace> VisionWorkspace::allocate(tensor::Backend& backend, const VisionDims& dims,
                                                  int64_t rows, tensor::DType weights) {
  VisionWorkspace ws;
  if (Status s = allocate_plan(backend, workspace_plan(dims, rows, weights), ws); !s.ok()) {
    return s.with_context("vision workspace");
  }
  return ws;
}

int64_t VisionWorkspace::bytes(const VisionDims& dims, int64_t rows, tensor::DType weights) {
  return plan_bytes(workspace_plan(dims, rows, weights));
}

tensor::AttentionParams vision_attention_params(const VisionDims& dims, tensor::DType weights) {
  const int heads = static_cast<int>(dims.num_heads);
  const int head_dim = static_cast<int>(dims.head_dim());
  return {heads, heads, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim)),
          weights == tensor::DType::kBF16};
}

Result<VisionBlock> VisionBlock::load(WeightLoader& loader, const VisionDims& dims, int64_t index) {
  const std::string p = "visual.blocks." + std::to_string(index) + ".";
  const int64_t e = dims.embed_dim;
  VisionBlock b;
  Status s;
  if (s = assign(loader.vector(p + "norm1.weight", e), b.norm1_weight); !s.ok()) return s;
  if (s = assign(loader.vector(p + "norm1.bias", e), b.norm1_bias); !s.ok()) return s;
  if (s = assign(loader.matrix(p + "attn.qkv.weight", 3 * e, e), b.qkv); !s.ok()) return s;
  if (s = assign(loader.vector(p + "attn.qkv.bias", 3 * e), b.qkv_bias); !s.ok()) return s;
  if (s = assign(loader.matrix(p + "attn.proj.weight", e, e), b.proj); !s.ok()) return s;
  if (s = assign(loader.vector(p + "attn.proj.bias", e), b.proj_bias); !s.ok()) return s;
  if (s = assign(loader.vector(p + "norm2.weight", e), b.norm2_weight); !s.ok()) return s;
  if (s = assign(loader.vector(p + "norm2.bias", e), b.norm2_bias); !s.ok()) return s;
  if (s = assign(loader.matrix(p + "mlp.fc1.weight", dims.mlp_hidden, e), b.fc1); !s.ok()) return s;
  if (s = assign(loader.vector(p + "mlp.fc1.bias", dims.mlp_hidden), b.fc1_bias); !s.ok()) return s;
  if (s = assign(loader.matrix(p + "mlp.fc2.weight", e, dims.mlp_hidden), b.fc2); !s.ok()) return s;
  if (s = assign(loader.vector(p + "mlp.fc2.bias", e), b.fc2_bias); !s.ok()) return s;
  return b;
}

void VisionBlock::forward(tensor::Backend& backend, const VisionDims& dims, VisionWorkspace& ws,
                          int64_t n, std::span<const std::pair<int64_t, int64_t>> segments) const {
  const int64_t e = dims.embed_dim;
  const int heads = static_cast<int>(dims.num_heads);
  const int head_dim = static_cast<int>(dims.head_dim());
  const TensorView hidden = ws.hidden.view().rows_slice(0, n);
  const TensorView normed = ws.normed.view().rows_slice(0, n);
  const TensorView qkv = ws.qkv.view().rows_slice(0, n);
  const TensorView attn = ws.attn.view().rows_slice(0, n);
  const TensorView mlp = ws.mlp.view().rows_slice(0, n);
  const TensorView cos = ws.cos.view().rows_slice(0, n);
  const TensorView sin = ws.sin.view().rows_slice(0, n);

  // spec §8.4: A = LN1(H); QKV = A·Wqkvᵀ + b; 2-D rotary on q and k.
  backend.layer_norm(normed, hidden, norm1_weight.view(), norm1_bias.view(), dims.norm_eps);
  backend.matmul(qkv, normed, this->qkv, qkv_bias.view());
  const TensorView q = qkv.cols_slice(0, e);
  // k's heads follow q's, with the same angles per row: one rotary over both.
  backend.rotary(qkv.cols_slice(0, 2 * e), cos, sin, 2 * heads, head_dim);
  // The bf16 path's attention rounds k and v to bf16 (nearest even) as it reads them (the GPU's
  // tensor-core kernel, the CPU's AVX512_BF16 one): rounded once here instead, the same values
  // take half the bytes and no conversion per read (on the GPU every tile of keys is read once
  // per 64 queries). Where the attention runs in f32 after all (a CPU without AVX512_BF16, short
  // segments), k and v are now bf16 values there too, as in the reference's bf16 attention.
  TensorView kv = qkv.cols_slice(e, 2 * e);
  if (ws.kv.rows() > 0) {
    backend.copy(ws.kv.view().rows_slice(0, n), kv);
    kv = ws.kv.view().rows_slice(0, n);
  }
  const TensorView k = kv.cols_slice(0, e);
  const TensorView v = kv.cols_slice(e, e);

  // Full attention inside each segment (cu_seqlens, spec §8.3), none across.
  std::vector<tensor::AttentionBlock> blocks;
  blocks.reserve(segments.size());
  for (const auto& [begin, count] : segments) {
    blocks.push_back(
        {begin, count, k.rows_slice(begin, count), v.rows_slice(begin, count), false, 0});
  }
  backend.attention(attn, q, blocks, vision_attention_params(dims, this->qkv.dtype()));
  // H = H + O·Wprojᵀ + b (the residual add fused into the GEMM).
  backend.matmul(hidden, attn, proj, proj_bias.view(), MatmulAccumulate::kAddToOut);

  // H = H + fc2(quick_gelu(fc1(LN2(H)))).
  backend.layer_norm(normed, hidden, norm2_weight.view(), norm2_bias.view(), dims.norm_eps);
  backend.matmul(mlp, normed, fc1, fc1_bias.view());
  const TensorView act = ws.mlp_act.rows() > 0 ? ws.mlp_act.view().rows_slice(0, n) : mlp;
  backend.activation(act, mlp, Activation::kQuickGelu);
  backend.matmul(hidden, act, fc2, fc2_bias.view(), MatmulAccumulate::kAddToOut);
}

Result<PatchMerger> PatchMerger::load(WeightLoader& loader, const VisionDims& dims) {
  const int64_t m = dims.merged_dim();
  PatchMerger pm;
  Status s;
  if (s = assign(loader.vector("visual.merger.ln_q.weight", dims.embed_dim), pm.ln_weight); !s.ok())
    return s;
  if (s = assign(loader.vector("visual.merger.ln_q.bias", dims.embed_dim), pm.ln_bias); !s.ok())
    return s;
  if (s = assign(loader.matrix("visual.merger.mlp.0.weight", m, m), pm.mlp0); !s.ok()) return s;
  if (s = assign(loader.vector("visual.merger.mlp.0.bias", m), pm.mlp0_bias); !s.ok()) return s;
  if (s = assign(loader.matrix("visual.merger.mlp.2.weight", dims.out_hidden, m), pm.mlp2); !s.ok())
    return s;
  if (s = assign(loader.vector("visual.merger.mlp.2.bias", dims.out_hidden), pm.mlp2_bias); !s.ok())
    return s;
  return pm;
}

void PatchMerger::forward(tensor::Backend& backend, const VisionDims& dims, VisionWorkspace& ws,
                          int64_t n, TensorView out) const {
  const int64_t groups = dims.merge_size * dims.merge_size;
  const TensorView normed = ws.normed.view().rows_slice(0, n);
  const TensorView merged = ws.merged.view().rows_slice(0, n / groups);
  // spec §8.5: LN_q per patch, then 4 consecutive patches (one 2x2 block) form one row.
  backend.layer_norm(normed, ws.hidden.view().rows_slice(0, n), ln_weight.view(), ln_bias.view(),
                     dims.norm_eps);
  backend.matmul(merged, normed.reshape(n / groups, dims.merged_dim()), mlp0, mlp0_bias.view());
  backend.activation(merged, merged, Activation::kGeluErf);
  backend.matmul(out, merged, mlp2, mlp2_bias.view());
}

Result<VisionEncoder> VisionEncoder::load(WeightLoader& loader, const VisionDims& dims) {
  VisionEncoder enc;
  enc.dims_ = dims;
  Status s =
      assign(loader.matrix("visual.patch_embed.proj.weight", dims.embed_dim, dims.patch_features()),
             enc.patch_embed_);
  if (!s.ok()) return s;
  enc.blocks_.reserve(static_cast<size_t>(dims.depth));
  for (int64_t i = 0; i < dims.depth; ++i) {
    auto block = VisionBlock::load(loader, dims, i);
    if (!block.ok()) return block.status();
    enc.blocks_.push_back(std::move(block).value());
  }
  auto merger = PatchMerger::load(loader, dims);
  if (!merger.ok()) return merger.status();
  enc.merger_ = std::move(merger).value();
  return enc;
}

size_t VisionEncoder::weight_bytes() const {
  size_t total = patch_embed_.size_bytes() + merger_.ln_weight.size_bytes() +
                 merger_.ln_bias.size_bytes() + merger_.mlp0.size_bytes() +
                 merger_.mlp0_bias.size_bytes() + merger_.mlp2.size_bytes() +
                 merger_.mlp2_bias.size_bytes();
  for (const VisionBlock& b : blocks_) {
    total += b.norm1_weight.size_bytes() + b.norm1_bias.size_bytes() + b.qkv.size_bytes() +
             b.qkv_bias.size_bytes() + b.proj.size_bytes() + b.proj_bias.size_bytes() +
             b.norm2_weight.size_bytes() + b.norm2_bias.size_bytes() + b.fc1.size_bytes() +
             b.fc1_bias.size_bytes() + b.fc2.size_bytes() + b.fc2_bias.size_bytes();
  }
  return total;
}

namespace {

// Uploads rows [first, first + n) of the parts' rows (back to back) into dst's first n rows.
void upload_pixel_rows(tensor::Backend& backend, tensor::TensorView dst,
                       std::span<const tensor::HostMatrix> parts, int64_t first, int64_t n) {
  const int64_t end = first + n;
  int64_t row = first;
  int64_t part_first = 0;
  for (const tensor::HostMatrix& part : parts) {
    const int64_t part_end = part_first + part.rows;
    if (row < part_end && row < end) {
      const int64_t take = std::min(end, part_end) - row;
      const size_t row_bytes = static_cast<size_t>(part.cols) * tensor::host_dtype_size(part.dtype);
      const auto* bytes = static_cast<const std::byte*>(part.data);
      backend.upload(dst.rows_slice(row - first, take),
                     tensor::HostMatrix{bytes + static_cast<size_t>(row - part_first) * row_bytes,
                                        part.dtype, take, part.cols});
      row += take;
    }
    part_first = part_end;
  }
}

}  // namespace

Result<tensor::Tensor> VisionEncoder::forward(tensor::Backend& backend,
                                              std::span<const tensor::HostMatrix> pixel_parts,
                                              std::span<const VisionGrid> grids,
                                              int64_t max_chunk_rows) const {
  const int64_t features = dims_.patch_features();
  const int64_t groups = dims_.merge_size * dims_.merge_size;
  // One segment per frame pair of every video (spec §8.3).
  std::vector<int64_t> segment_sizes;
  int64_t patches = 0;
  for (const VisionGrid& g : grids) {
    if (g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % dims_.merge_size || g.w % dims_.merge_size) {
      return Status::invalid_argument("vision: grid (" + std::to_string(g.t) + ", " +
                                      std::to_string(g.h) + ", " + std::to_string(g.w) +
                                      ") is empty or not a multiple of the merge size");
    }
    segment_sizes.insert(segment_sizes.end(), static_cast<size_t>(g.t), g.h * g.w);
    patches += g.num_patches();
  }
  int64_t rows = 0;
  for (const tensor::HostMatrix& part : pixel_parts) {
    if (part.cols != features || part.rows < 0) {
      return Status::invalid_argument("vision: pixel_values of " + std::to_string(part.cols) +
                                      " columns, the model takes " + std::to_string(features));
    }
    rows += part.rows;
  }
  if (patches == 0 || rows != patches) {
    return Status::invalid_argument("vision: pixel_values hold " + std::to_string(rows) +
                                    " rows, the grids need " + std::to_string(patches) +
                                    " patches");
  }
  const RotaryTable rotary = vision_rotary_table(grids, dims_.head_dim(), dims_.merge_size);
  const int64_t largest = *std::max_element(segment_sizes.begin(), segment_sizes.end());
  const int64_t chunk_rows = std::min(patches, std::max(largest, max_chunk_rows));
  auto ws = VisionWorkspace::allocate(backend, dims_, chunk_rows, patch_embed_.dtype());
  if (!ws.ok()) return ws.status();
  auto out = backend.allocate(tensor::DType::kF32, patches / groups, dims_.out_hidden);
  if (!out.ok()) return out.status().with_context("vision features");

  const int64_t half = rotary.half;
  size_t next_segment = 0;
  int64_t row = 0;
  while (next_segment < segment_sizes.size()) {
    // Whole segments up to chunk_rows rows (at least one).
    std::vector<std::pair<int64_t, int64_t>> segments;
    int64_t n = 0;
    while (next_segment < segment_sizes.size() &&
           (segments.empty() || n + segment_sizes[next_segment] <= chunk_rows)) {
      segments.emplace_back(n, segment_sizes[next_segment]);
      n += segment_sizes[next_segment++];
    }
    upload_pixel_rows(backend, ws->pixels.view(), pixel_parts, row, n);
    backend.upload(ws->cos.view().rows_slice(0, n),
                   std::span<const float>(rotary.cos)
                       .subspan(static_cast<size_t>(row * half), static_cast<size_t>(n * half)));
    backend.upload(ws->sin.view().rows_slice(0, n),
                   std::span<const float>(rotary.sin)
                       .subspan(static_cast<size_t>(row * half), static_cast<size_t>(n * half)));
    // spec §8.1: the Conv3d with kernel = stride is a GEMM over flattened patches.
    backend.matmul(ws->hidden.view().rows_slice(0, n), ws->pixels.view().rows_slice(0, n),
                   patch_embed_);
    for (const VisionBlock& block : blocks_) block.forward(backend, dims_, *ws, n, segments);
    merger_.forward(backend, dims_, *ws, n, out->view().rows_slice(row / groups, n / groups));
    row += n;
  }
  if (Status s = backend.synchronize(); !s.ok()) return s;
  return out;
}

}  // namespace vcap::model
