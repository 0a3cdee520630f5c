#include "tensor/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "tensor/cpu/attention_avx2.h"
#include "tensor/cpu/attention_avx512.h"
#include "tensor/cpu/attention_bf16.h"
#include "tensor/cpu/attention_decode.h"
#include "tensor/cpu/attention_lanes.h"
#include "tensor/cpu/elementwise.h"

namespace vcap::tensor::cpu {
namespace {

constexpr int kTargetLanes = 64;  // (row, head) queries per task
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// One unit of parallel work: rows [row_begin, row_begin + row_count) of a block (block-relative)
// and every query head of kv head `kv_head`.
struct Task {
  int block = 0;
  int kv_head = 0;
  int64_t row_begin = 0;
  int64_t row_count = 0;
};

// --- Portable path: one query at a time, online softmax over all visible keys. ---

void run_task_scalar(const Lanes& lanes, const AttentionBlock& block, int kv_head,
                     const AttentionParams& params, std::vector<float>& acc) {
  const int dim = params.head_dim;
  const int64_t column = static_cast<int64_t>(kv_head) * dim;
  acc.resize(dim);
  for (size_t lane = 0; lane < lanes.q.size(); ++lane) {
    const float* q = lanes.q[lane];
    float max = kMinusInf;
    float sum = 0.0f;
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < lanes.end[lane]; ++j) {
      const float* k = block.k.row<float>(j) + column;
      const float* v = block.v.row<float>(j) + column;
      float dot = 0.0f;
      for (int d = 0; d < dim; ++d) dot += q[d] * k[d];
      const float s = dot * params.scale;
      const float new_max = std::max(max, s);
      const float correction = max == kMinusInf ? 0.0f : std::exp(max - new_max);
      const float p = std::exp(s - new_max);
      sum = sum * correction + p;
      for (int d = 0; d < dim; ++d) acc[d] = acc[d] * correction + p * v[d];
      max = new_max;
    }
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = 0; d < dim; ++d) lanes.out[lane][d] = acc[d] * inverse;
  }
}

}  // namespace

namespace {

// Query rows per task: up to kTargetLanes lanes, as few of them padding (lanes run in vectors of
// 16) as possible, then as many as possible. Qwen2-VL-2B's 6 query heads per kv head: 8 rows =
// 48 lanes, none wasted (10 rows would pad 60 lanes to 64); vision (1 head per kv head): 64.
int64_t rows_per_task_for(int group) {
  int64_t best = 1;
  int64_t best_waste = kTargetLanes;
  for (int64_t rows = 1; rows * group <= kTargetLanes; ++rows) {
    const int64_t waste = (16 - rows * group % 16) % 16;
    if (waste <= best_waste) {
      best = rows;
      best_waste = waste;
    }
  }
  return best;
}

std::vector<Task> make_tasks(std::span<const AttentionBlock> blocks,
                             const AttentionParams& params) {
  const int group = params.num_heads / params.num_kv_heads;
  const int64_t rows_per_task = rows_per_task_for(group);
  std::vector<Task> tasks;
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (int g = 0; g < params.num_kv_heads; ++g) {
      for (int64_t r = 0; r < blocks[b].q_count; r += rows_per_task) {
        tasks.push_back(
            {static_cast<int>(b), g, r, std::min(rows_per_task, blocks[b].q_count - r)});
      }
    }
  }
  // Causal tasks grow with the row index: hand out the big ones first to balance threads.
  std::reverse(tasks.begin(), tasks.end());
  return tasks;
}

// The f32 kernels (AVX-512, AVX2 or portable) on all tasks of all blocks.
void attention_f32(const CpuContext& context, TensorView out, TensorView q,
                   std::span<const AttentionBlock> blocks, const AttentionParams& params) {
  const std::vector<Task> tasks = make_tasks(blocks, params);
  const bool vector = context.avx512 && attention_avx512_supports(params);
  const bool avx2 = !vector && context.avx2 && attention_avx2_supports(params);
  const auto count = static_cast<int64_t>(tasks.size());
#pragma omp parallel num_threads(context.threads) if (count > 1)
  {
    std::vector<float> scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < count; ++t) {
      const Task& task = tasks[t];
      const AttentionBlock& block = blocks[task.block];
      const Lanes lanes =
          make_lanes(out, q, block, task.kv_head, task.row_begin, task.row_count, params);
      if (vector) {
        attention_task_avx512(lanes.q.data(), lanes.out.data(), lanes.end.data(),
                              static_cast<int64_t>(lanes.q.size()), lanes.max_end, block,
                              task.kv_head, params, scratch);
      } else if (avx2) {
        attention_task_avx2(lanes.q.data(), lanes.out.data(), lanes.end.data(),
                            static_cast<int64_t>(lanes.q.size()), lanes.max_end, block,
                            task.kv_head, params, scratch);
      } else {
        run_task_scalar(lanes, block, task.kv_head, params, scratch);
      }
    }
  }
}

// Packed bf16 keys and values held at once: blocks are run in groups within this budget (at
// least one block per group), so all tasks of a group share one parallel loop (many small
// decode blocks) without packing, say, all 20 vision segments of a clip at once.
constexpr int64_t kPackedBudgetBytes = int64_t{32} << 20;

int64_t packed_bytes(const AttentionBlock& block, const AttentionParams& params) {
  return block.k.rows * params.num_kv_heads * params.head_dim * 4;  // k and v, 2 bytes each
}

// The bf16 kernel on one group of blocks: their keys and values are packed (in parallel) once,
// then all their tasks run against them. `packed` is reused between groups.
void attention_bf16_group(const CpuContext& context, TensorView out, TensorView q,
                          std::span<const AttentionBlock> group, const AttentionParams& params,
                          std::vector<Bf16KeyValues>& packed) {
  if (packed.size() < group.size()) packed.resize(group.size());
  std::vector<std::pair<int, int64_t>> pairs;  // (block, key pair) to pack
  for (size_t b = 0; b < group.size(); ++b) {
    resize_bf16_key_values(group[b], params, packed[b]);
    for (int64_t i = 0; i < packed[b].value_rows; ++i) pairs.emplace_back(static_cast<int>(b), i);
  }
  const std::vector<Task> tasks = make_tasks(group, params);
  const auto pair_count = static_cast<int64_t>(pairs.size());
  const auto task_count = static_cast<int64_t>(tasks.size());
#pragma omp parallel num_threads(context.threads)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < pair_count; ++i) {
      const auto [b, pair] = pairs[i];
      pack_bf16_key_pair(group[b], params, pair, packed[b]);
    }
    AttentionBf16Scratch scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < task_count; ++t) {
      const Task& task = tasks[t];
      const Lanes lanes = make_lanes(out, q, group[task.block], task.kv_head, task.row_begin,
                                     task.row_count, params);
      attention_task_bf16(lanes.q.data(), lanes.out.data(), lanes.end.data(),
                          static_cast<int64_t>(lanes.q.size()), lanes.max_end, packed[task.block],
                          task.kv_head, params, scratch);
    }
  }
}

void attention_bf16(const CpuContext& context, TensorView out, TensorView q,
                    std::span<const AttentionBlock> blocks, const AttentionParams& params) {
  std::vector<Bf16KeyValues> packed;
  size_t first = 0;
  while (first < blocks.size()) {
    size_t last = first + 1;
    int64_t bytes = packed_bytes(blocks[first], params);
    while (last < blocks.size() &&
           bytes + packed_bytes(blocks[last], params) <= kPackedBudgetBytes) {
      bytes += packed_bytes(blocks[last++], params);
    }
    attention_bf16_group(context, out, q, blocks.subspan(first, last - first), params, packed);
    first = last;
  }
}

// The f32 kernels read f32 keys and values: a bf16 cache (on a CPU without AVX512-BF16, or
// with bf16 products off) is widened into `storage` first and `block` pointed at the copy.
void widen_key_values(const CpuContext& context, AttentionBlock& block,
                      std::vector<std::vector<float>>& storage) {
  for (TensorView* view : {&block.k, &block.v}) {
    if (view->dtype == DType::kF32) continue;
    std::vector<float>& values = storage.emplace_back(view->rows * view->cols);
    const TensorView wide{reinterpret_cast<std::byte*>(values.data()), DType::kF32, view->rows,
                          view->cols, view->cols};
    convert(context, wide, *view);
    *view = wide;
  }
}

}  // namespace

void attention(const CpuContext& context, TensorView out, TensorView q,
               std::span<const AttentionBlock> blocks, const AttentionParams& params) {
  // bf16 products only where allowed and where the CPU has vdpbf16ps: decode steps over a bf16
  // cache stream it in place, blocks with enough queries repay packing their keys and values;
  // everything else takes exactly the f32 path.
  const bool bf16 = params.bf16_products && context.avx512_bf16;
  std::vector<AttentionBlock> decode_blocks;
  std::vector<AttentionBlock> bf16_blocks;
  std::vector<AttentionBlock> f32_blocks;
  for (const AttentionBlock& block : blocks) {
    if (bf16 && attention_decode_supports(block, params)) {
      decode_blocks.push_back(block);
    } else if (bf16 && attention_bf16_supports(params) && attention_bf16_pays_off(block, params)) {
      bf16_blocks.push_back(block);
    } else {
      f32_blocks.push_back(block);
    }
  }
  if (!decode_blocks.empty()) attention_decode(context, out, q, decode_blocks, params);
  if (!bf16_blocks.empty()) attention_bf16(context, out, q, bf16_blocks, params);
  if (f32_blocks.empty()) return;
  std::vector<std::vector<float>> widened;
  for (AttentionBlock& block : f32_blocks) widen_key_values(context, block, widened);
  attention_f32(context, out, q, f32_blocks, params);
}

}  // namespace vcap::tensor::cpu
