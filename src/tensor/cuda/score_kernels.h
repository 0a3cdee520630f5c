// Backend::process_scores on the GPU (tensor/scores.h): the kernel bodies, written against
// simt.h so that they compile with nvcc (scores.cu) and with the host compiler for the tests'
// SIMT emulator, as the attention's do.
//
// A decode step has a few rows (one per sequence) of ~150k scores: one block per row would
// leave most multiprocessors idle while each walks 600 KB. So each row is cut into parts of
// kScorePartColumns columns, one block per part: it applies the repetition penalty to the ids
// that fall inside its part, divides by the temperature, and reduces its part to a ScoreMax.
// The block that finishes a row's last part reduces the row's parts (counted on a per-row
// counter, as the attention's split key ranges are merged: attention_kernels.h), so that one
// launch does it all. The reduction (max, then the lowest column and the sum of counts on equal
// maxima) is exact in any order, so the result is process_score_row's bit for bit.
#ifndef VCAP_TENSOR_CUDA_SCORE_KERNELS_H_
#define VCAP_TENSOR_CUDA_SCORE_KERNELS_H_

#include <cstdint>

#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kScoreThreads = 256;
constexpr int kScoreColumnsPerThread = 16;  // loaded before any is reduced: 16 loads in flight
constexpr int kScorePartColumns = kScoreThreads * kScoreColumnsPerThread;
constexpr int kScoreSharedWords = 4 * (kScoreThreads / simt::kWarpSize);

// A row's largest score that is not NaN, its lowest column, how many columns hold it, and
// whether a NaN was seen (tensor::LargestScore as the kernels carry it).
struct ScoreMax {
  float largest;
  int32_t first;
  int32_t count;
  int32_t has_nan;
};

// Row r's rule: ids [first_id, first_id + id_count) of ScoreLaunch::ids are penalised.
struct ScoreRowDesc {
  int32_t first_id;
  int32_t id_count;
  float penalty;
  float divisor;
};

struct ScoreLaunch {
  float* scores;  // [rows, cols], rows `stride` floats apart
  int64_t stride;
  int32_t rows;
  int32_t cols;
  int32_t parts;  // ceil(cols / kScorePartColumns) blocks per row
  const ScoreRowDesc* rules;
  const int32_t* ids;
  ScoreMax* partials;  // [rows * parts]
  ScoreMax* results;   // [rows]
  int32_t* arrivals;   // [rows]: the row's parts finished so far; zero before and after a launch
};

VCAP_HOST_DEVICE constexpr int32_t score_parts(int32_t cols) {
  return cols == 0 ? 1 : (cols + kScorePartColumns - 1) / kScorePartColumns;
}

VCAP_SIMT_FN ScoreMax score_max_identity() { return ScoreMax{-INFINITY, INT32_MAX, 0, 0}; }

VCAP_SIMT_FN ScoreMax combine_score_max(const ScoreMax& a, const ScoreMax& b) {
  ScoreMax r;
  if (a.largest > b.largest) {
    r = a;
  } else if (b.largest > a.largest) {
    r = b;
  } else {
    r.largest = a.largest;
    r.first = a.first < b.first ? a.first : b.first;
    r.count = a.count + b.count;
  }
  r.has_nan = a.has_nan | b.has_nan;
  return r;
}

// The combination of every thread's `mine` in the block, in thread 0 (others: unspecified).
// REQUIRES: every thread of the block calls it.
VCAP_SIMT_FN ScoreMax reduce_score_max_block(ScoreMax mine, uint32_t* shared) {
  for (int offset = simt::kWarpSize / 2; offset > 0; offset /= 2) {
    ScoreMax other;
    other.largest = simt::shuffle_xor(mine.largest, offset);
    other.first = static_cast<int32_t>(simt::bits_of(
        simt::shuffle_xor(simt::float_of(static_cast<uint32_t>(mine.first)), offset)));
    other.count = static_cast<int32_t>(simt::bits_of(
        simt::shuffle_xor(simt::float_of(static_cast<uint32_t>(mine.count)), offset)));
    other.has_nan = static_cast<int32_t>(simt::bits_of(
        simt::shuffle_xor(simt::float_of(static_cast<uint32_t>(mine.has_nan)), offset)));
    mine = combine_score_max(mine, other);
  }
  const int lane = simt::thread_rank() % simt::kWarpSize;
  const int warp = simt::thread_rank() / simt::kWarpSize;
  if (lane == 0) {
    shared[4 * warp] = simt::bits_of(mine.largest);
    shared[4 * warp + 1] = static_cast<uint32_t>(mine.first);
    shared[4 * warp + 2] = static_cast<uint32_t>(mine.count);
    shared[4 * warp + 3] = static_cast<uint32_t>(mine.has_nan);
  }
  simt::sync_block();
  if (simt::thread_rank() != 0) return mine;
  ScoreMax total = score_max_identity();
  for (int w = 0; w < kScoreThreads / simt::kWarpSize; ++w) {
    const ScoreMax part{simt::float_of(shared[4 * w]), static_cast<int32_t>(shared[4 * w + 1]),
                        static_cast<int32_t>(shared[4 * w + 2]),
                        static_cast<int32_t>(shared[4 * w + 3])};
    total = combine_score_max(total, part);
  }
  return total;
}

// The parts of `row` reduced into results[row] by the block's threads; the parts were stored by
// other blocks of the launch, so they are read past L1.
VCAP_SIMT_FN void reduce_row_parts(const ScoreLaunch& args, int row, uint32_t* shared) {
  ScoreMax mine = score_max_identity();
  for (int p = simt::thread_rank(); p < args.parts; p += kScoreThreads) {
    const ScoreMax* part = args.partials + static_cast<int64_t>(row) * args.parts + p;
    const ScoreMax loaded{simt::load_l2(&part->largest), simt::load_l2(&part->first),
                          simt::load_l2(&part->count), simt::load_l2(&part->has_nan)};
    mine = combine_score_max(mine, loaded);
  }
  ScoreMax total = reduce_score_max_block(mine, shared);
  if (simt::thread_rank() != 0) return;
  if (total.count == 0) total.first = 0;  // NaNs only (or no column): as process_score_row
  args.results[row] = total;
}

// Block `block` of the launch (rows * parts blocks): part block % parts of row block / parts,
// processed in place and reduced into partials[block]; the row's last part to finish reduces the
// row into results[row] and sets its counter back to zero.
VCAP_SIMT_FN void score_part_block(const ScoreLaunch& args, int block, uint32_t* shared) {
  const int row = block / args.parts;
  const int part = block % args.parts;
  const ScoreRowDesc rule = args.rules[row];
  float* scores = args.scores + static_cast<int64_t>(row) * args.stride;
  const int32_t begin = part * kScorePartColumns;
  const int32_t end = args.cols - begin < kScorePartColumns ? args.cols : begin + kScorePartColumns;
  const int thread = simt::thread_rank();
  if (rule.penalty != 1.0f) {
    // The ids are distinct: each score is penalised once, by one thread.
    for (int32_t i = thread; i < rule.id_count; i += kScoreThreads) {
      const int32_t id = args.ids[rule.first_id + i];
      if (id < begin || id >= end) continue;
      const float s = scores[id];
      scores[id] = s < 0.0f ? s * rule.penalty : s / rule.penalty;
    }
  }
  simt::sync_block();  // the penalised scores are read by other threads below
  float values[kScoreColumnsPerThread];
  VCAP_UNROLL
  for (int k = 0; k < kScoreColumnsPerThread; ++k) {
    const int32_t column = begin + k * kScoreThreads + thread;
    values[k] = column < end ? scores[column] : 0.0f;
  }
  ScoreMax mine = score_max_identity();
  VCAP_UNROLL
  for (int k = 0; k < kScoreColumnsPerThread; ++k) {
    const int32_t column = begin + k * kScoreThreads + thread;
    if (column >= end) continue;
    float s = values[k];
    if (rule.divisor != 1.0f) {
      s = s / rule.divisor;
      scores[column] = s;
    }
    if (s != s) {
      mine.has_nan = 1;
    } else {
      mine = combine_score_max(mine, ScoreMax{s, column, 1, 0});
    }
  }
  const ScoreMax total = reduce_score_max_block(mine, shared);
  if (thread == 0) args.partials[block] = total;
  if (simt::arrived_last(&args.arrivals[row], args.parts, shared)) {
    reduce_row_parts(args, row, shared);
  }
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_SCORE_KERNELS_H_
