#include "tensor/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/attention_avx512.h"
#include "tensor/cpu/attention_bf16.h"

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

// The queries of one task, as "lanes": lane = row * group + head-in-group.
struct Lanes {
  std::vector<const float*> q;  // [lanes] -> head_dim values
  std::vector<float*> out;      // [lanes] -> head_dim values
  std::vector<int64_t> end;     // [lanes] keys [0, end) are visible
  int64_t max_end = 0;
};

Lanes make_lanes(TensorView out, TensorView q, const AttentionBlock& block, const Task& task,
                 const AttentionParams& params) {
  const int group = params.num_heads / params.num_kv_heads;
  const int64_t k_count = block.k.rows;
  Lanes lanes;
  for (int64_t i = task.row_begin; i < task.row_begin + task.row_count; ++i) {
    int64_t end = k_count;
    if (block.causal) end = std::clamp<int64_t>(i + block.causal_offset + 1, 0, k_count);
    for (int e = 0; e < group; ++e) {
      const int64_t column = static_cast<int64_t>(task.kv_head * group + e) * params.head_dim;
      lanes.q.push_back(q.row<float>(block.q_begin + i) + column);
      lanes.out.push_back(out.row<float>(block.q_begin + i) + column);
      lanes.end.push_back(end);
      lanes.max_end = std::max(lanes.max_end, end);
    }
  }
  return lanes;
}

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

std::vector<Task> make_tasks(std::span<const AttentionBlock> blocks,
                             const AttentionParams& params) {
  const int group = params.num_heads / params.num_kv_heads;
  const int64_t rows_per_task = std::max(1, kTargetLanes / group);
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

}  // namespace

void attention(const CpuContext& context, TensorView out, TensorView q,
               std::span<const AttentionBlock> blocks, const AttentionParams& params) {
  const std::vector<Task> tasks = make_tasks(blocks, params);
  // bf16 products only where allowed and the CPU has vdpbf16ps; otherwise exactly the f32 path.
  const bool bf16 = params.bf16_products && context.avx512_bf16 && attention_bf16_supports(params);
  const bool vector = context.avx512 && attention_avx512_supports(params);
  const auto count = static_cast<int64_t>(tasks.size());
#pragma omp parallel num_threads(context.threads) if (count > 1)
  {
    std::vector<float> scratch;
    AttentionBf16Scratch bf16_scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < count; ++t) {
      const Task& task = tasks[t];
      const AttentionBlock& block = blocks[task.block];
      const Lanes lanes = make_lanes(out, q, block, task, params);
      if (bf16) {
        attention_task_bf16(lanes.q.data(), lanes.out.data(), lanes.end.data(),
                            static_cast<int64_t>(lanes.q.size()), lanes.max_end, block,
                            task.kv_head, params, bf16_scratch);
      } else if (vector) {
        attention_task_avx512(lanes.q.data(), lanes.out.data(), lanes.end.data(),
                              static_cast<int64_t>(lanes.q.size()), lanes.max_end, block,
                              task.kv_head, params, scratch);
      } else {
        run_task_scalar(lanes, block, task.kv_head, params, scratch);
      }
    }
  }
}

}  // namespace vcap::tensor::cpu
