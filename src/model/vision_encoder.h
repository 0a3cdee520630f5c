// The Qwen2-VL vision tower (spec/QWEN2VL.md §8): patch embedding, 32 pre-norm blocks with 2-D
// rotary attention inside each frame pair, and the 2x2 patch merger into LLM-width vectors.
//
// Rows are patches in pixel_values order. Several videos are concatenated rows; attention never
// crosses a segment (one segment = one frame pair of one video, spec §8.3). Because every other
// op is per row, the tower runs on groups of whole segments at a time: activation memory is
// bounded by `max_chunk_rows`, not by the clip length, and results do not depend on the grouping.
#ifndef VCAP_MODEL_VISION_ENCODER_H_
#define VCAP_MODEL_VISION_ENCODER_H_

#include <span>
#include <vector>

#include "base/status.h"
#include "model/model_dims.h"
#include "model/rope_index.h"
#include "model/weights.h"
#include "tensor/backend.h"

namespace vcap::model {

// Scratch activations of one group of rows; views are taken with rows_slice(0, n). The
// activations that only feed matmuls (normed, attn, mlp_act, pixels) are of the weights' dtype:
// with bf16 weights the ops that write them (the upload, for pixels) round to bf16 there
// (tensor/backend.h, bf16 matmul inputs).
struct VisionWorkspace {
  tensor::Tensor hidden;   // [rows, embed]     the residual stream
  tensor::Tensor normed;   // [rows, embed]     LayerNorm output                  (matmul input)
  tensor::Tensor qkv;      // [rows, 3*embed]   fused q|k|v
  tensor::Tensor kv;       // [rows, 2*embed]   k|v as bf16 for the attention; with f32 weights
                           // none: it reads qkv's
  tensor::Tensor attn;     // [rows, embed]     attention output                  (matmul input)
  tensor::Tensor mlp;      // [rows, mlp_hidden] fc1 output
  tensor::Tensor mlp_act;  // [rows, mlp_hidden] quick_gelu(mlp) (matmul input); with f32
                           // weights none: the activation runs in place on mlp
  tensor::Tensor merged;   // [rows/4, merged_dim] merger hidden
  tensor::Tensor cos;      // [rows, head_dim/2] rotary table
  tensor::Tensor sin;      // [rows, head_dim/2]
  tensor::Tensor pixels;   // [rows, patch_features] uploaded pixel_values      (matmul input)

  // `weights`: the dtype of the tower's weights.
  static Result<VisionWorkspace> allocate(tensor::Backend& backend, const VisionDims& dims,
                                          int64_t rows, tensor::DType weights);
  // The bytes allocate() takes.
  static int64_t bytes(const VisionDims& dims, int64_t rows, tensor::DType weights);
};

// The vision blocks' attention (spec §8.4) with `weights` of that dtype: bf16 weights are the
// bf16 model path, whose attention may use bf16 products like the reference.
tensor::AttentionParams vision_attention_params(const VisionDims& dims, tensor::DType weights);

// One pre-norm block (spec §8.4), all weights as in visual.blocks.N.*.
struct VisionBlock {
  tensor::Tensor norm1_weight;  // [1, embed]
  tensor::Tensor norm1_bias;    // [1, embed]
  tensor::Weight qkv;           // [3*embed, embed]: rows q(heads x head_dim), k, v
  tensor::Tensor qkv_bias;      // [1, 3*embed]
  tensor::Weight proj;          // [embed, embed]
  tensor::Tensor proj_bias;     // [1, embed]
  tensor::Tensor norm2_weight;  // [1, embed]
  tensor::Tensor norm2_bias;    // [1, embed]
  tensor::Weight fc1;           // [mlp_hidden, embed]
  tensor::Tensor fc1_bias;      // [1, mlp_hidden]
  tensor::Weight fc2;           // [embed, mlp_hidden]
  tensor::Tensor fc2_bias;      // [1, embed]

  static Result<VisionBlock> load(WeightLoader& loader, const VisionDims& dims, int64_t index);

  // hidden [n, embed] updated in place. `segments` = (begin, count) row ranges inside the n
  // rows; cos/sin [n, head_dim/2].
  void forward(tensor::Backend& backend, const VisionDims& dims, VisionWorkspace& ws, int64_t n,
               std::span<const std::pair<int64_t, int64_t>> segments) const;
};

// LayerNorm, 4 rows -> 1, Linear + GELU(erf), Linear (spec §8.5); visual.merger.*.
struct PatchMerger {
  tensor::Tensor ln_weight;  // [1, embed]
  tensor::Tensor ln_bias;    // [1, embed]
  tensor::Weight mlp0;       // [merged_dim, merged_dim]
  tensor::Tensor mlp0_bias;  // [1, merged_dim]
  tensor::Weight mlp2;       // [out_hidden, merged_dim]
  tensor::Tensor mlp2_bias;  // [1, out_hidden]

  static Result<PatchMerger> load(WeightLoader& loader, const VisionDims& dims);

  // out [n/4, out_hidden] from ws.hidden [n, embed] (ws.normed is clobbered).
  void forward(tensor::Backend& backend, const VisionDims& dims, VisionWorkspace& ws, int64_t n,
               tensor::TensorView out) const;
};

class VisionEncoder {
 public:
  static Result<VisionEncoder> load(WeightLoader& loader, const VisionDims& dims);

  // Vision features [Σ tokens, out_hidden] f32 on the device for pixel_values [Σ patches,
  // patch_features] (host, row-major, f32 or bf16) of the videos `grids` (concatenated in
  // order). The rows may come in parts (say, one per video: read in place, never copied
  // together). Errors: kInvalidArgument when the row count does not match the grids, a part's
  // width is not patch_features or a grid is not a multiple of the merge size; kOutOfMemory
  // from the backend.
  Result<tensor::Tensor> forward(tensor::Backend& backend,
                                 std::span<const tensor::HostMatrix> pixel_parts,
                                 std::span<const VisionGrid> grids,
                                 int64_t max_chunk_rows = 8192) const;

  const VisionDims& dims() const { return dims_; }
  // Device bytes of all prepared weights.
  size_t weight_bytes() const;

 private:
  VisionDims dims_;
  tensor::Weight patch_embed_;  // [embed, patch_features]: the Conv3d kernel flattened
  std::vector<VisionBlock> blocks_;
  PatchMerger merger_;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_VISION_ENCODER_H_
