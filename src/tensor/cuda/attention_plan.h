// Host side of the GPU attention: cuts one Backend::attention call into thread-block work items
// (see attention.h) and lays the tables out in one byte blob that is uploaded as a whole.
#ifndef VCAP_TENSOR_CUDA_ATTENTION_PLAN_H_
#define VCAP_TENSOR_CUDA_ATTENTION_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cuda/attention_types.h"

namespace vcap::tensor::cuda {

struct AttentionPlan {
  std::vector<std::byte> tables;  // blocks, then items, then combines (16-byte aligned each)
  size_t items_offset = 0;        // byte offsets into `tables`
  size_t combines_offset = 0;
  int item_count = 0;
  int combine_count = 0;
  int partial_count = 0;  // partial slots the merges of split key ranges need
  // Every block's lanes fit one warp (a decode step, a prefill of one or two tokens): the
  // tensor-core kernel splits each key tile across its warps instead (attention_mma.h).
  bool warp_keys = false;
};

// The plan for `blocks` (already checked by the caller; every k_count < 2^31). `target_items`
// is the number of thread blocks that keeps the GPU busy (a few per multiprocessor): when
// there are fewer items, long key ranges are split into parts of at least
// `min_keys_per_part` keys (a multiple of the key tile) until about that many exist.
AttentionPlan make_attention_plan(std::span<const AttentionBlock> blocks,
                                  const AttentionParams& params, int target_items,
                                  int min_keys_per_part = 4 * kAttentionTileKeys);

// The launch arguments for `plan`, whose tables were copied to `tables` (device memory, or
// plan.tables itself for the tests' emulator); `partials` holds plan.partial_count slots of
// attention_partial_floats(params.head_dim) floats and `arrivals` plan.combine_count counters,
// all zero (both may be null without partial slots; the kernel leaves the counters at zero). q
// and out are f32 views already checked by the caller.
AttentionLaunch make_attention_launch(const AttentionPlan& plan, const std::byte* tables,
                                      TensorView out, TensorView q, float* partials,
                                      int32_t* arrivals, const AttentionParams& params);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_ATTENTION_PLAN_H_
