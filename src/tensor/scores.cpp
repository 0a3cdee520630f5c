#include "tensor/scores.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace vcap::tensor {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

// These passes run over ~150k scores per sequence and decode step, while a GPU may be waiting
// for the next step: they are written branch-free so that they vectorise, and on x86-64 built
// for AVX-512 and AVX2 besides the baseline (the best one is chosen when the program loads).
#if defined(__x86_64__)
#define VCAP_VECTOR_PASS [[gnu::target_clones("avx512f", "avx2", "default")]]
#else
#define VCAP_VECTOR_PASS
#endif

// Sixteen floats as one value (GCC/Clang vector extension): the compiler lowers its
// operations to whichever vector instructions the function is built for.
using Floats16 = float __attribute__((vector_size(64)));
using Ints16 = int32_t __attribute__((vector_size(64)));
constexpr size_t kLanes = 16;

struct LargestAndNan {
  float largest = kNegativeInfinity;
  bool has_nan = false;
};

// Sixteen running maxima instead of one chain of dependent compares; a NaN never compares
// greater, and shows as x != x.
VCAP_VECTOR_PASS LargestAndNan largest_and_nan(std::span<const float> row) {
  Floats16 lanes = Floats16{} + kNegativeInfinity;
  Ints16 nan_lanes = Ints16{};
  size_t i = 0;
  for (; i + kLanes <= row.size(); i += kLanes) {
    Floats16 v;
    std::memcpy(&v, row.data() + i, sizeof(v));
    lanes = v > lanes ? v : lanes;
    nan_lanes |= v != v;
  }
  LargestAndNan result;
  for (; i < row.size(); ++i) {
    result.largest = row[i] > result.largest ? row[i] : result.largest;
    result.has_nan = result.has_nan || std::isnan(row[i]);
  }
  for (size_t j = 0; j < kLanes; ++j) {
    result.largest = lanes[j] > result.largest ? lanes[j] : result.largest;
    result.has_nan = result.has_nan || nan_lanes[j] != 0;
  }
  return result;
}

VCAP_VECTOR_PASS int32_t count_equal(std::span<const float> row, float value) {
  int32_t count = 0;
  for (const float s : row) count += s == value ? 1 : 0;
  return count;
}

// The first column equal to `value` (row.size() when none).
VCAP_VECTOR_PASS size_t find_first(std::span<const float> row, float value) {
  size_t i = 0;
  for (; i + kLanes <= row.size(); i += kLanes) {
    Floats16 v;
    std::memcpy(&v, row.data() + i, sizeof(v));
    const auto equal = v == value;
    for (size_t j = 0; j < kLanes; ++j) {
      if (equal[j] != 0) return i + j;
    }
  }
  for (; i < row.size(); ++i) {
    if (row[i] == value) return i;
  }
  return row.size();
}

}  // namespace

LargestScore largest_score(std::span<const float> row) {
  const LargestAndNan found = largest_and_nan(row);
  LargestScore result;
  result.largest = found.largest;
  result.has_nan = found.has_nan;
  result.count = count_equal(row, found.largest);
  if (result.count > 0) result.first = static_cast<int32_t>(find_first(row, found.largest));
  return result;
}

void penalize_scores(std::span<float> row, std::span<const int32_t> distinct_ids, float penalty) {
  for (const int32_t id : distinct_ids) {
    float& s = row[static_cast<size_t>(id)];
    s = s < 0.0f ? s * penalty : s / penalty;
  }
}

VCAP_VECTOR_PASS void divide_scores(std::span<float> row, float divisor) {
  for (float& s : row) s = s / divisor;
}

LargestScore process_score_row(std::span<float> row, const ScoreRowRule& rule) {
  if (rule.penalty != 1.0f) penalize_scores(row, rule.penalized, rule.penalty);
  if (rule.divisor != 1.0f) divide_scores(row, rule.divisor);
  return largest_score(row);
}

}  // namespace vcap::tensor
