// The scores of a decode step (a row of logits per sequence) as the next token is chosen from
// them: the processing that every sampling setting shares, and where the row's largest score
// lies afterwards. Backend::process_scores runs it on the device that made the logits, so that
// with Qwen2-VL's settings (top_k = 1 after a repetition penalty) only these few numbers per
// row travel to the host instead of the whole vocabulary (model/generation.h says when they
// decide the token).
#ifndef VCAP_TENSOR_SCORES_H_
#define VCAP_TENSOR_SCORES_H_

#include <cstdint>
#include <span>

namespace vcap::tensor {

// How one row is processed, in Hugging Face's order (spec/QWEN2VL.md §12.2): the score s of
// every id in `penalized` becomes s < 0 ? s * penalty : s / penalty (the repetition penalty;
// each id once, however often it occurred), then every score is divided by `divisor` (the
// sampling temperature; 1 leaves the scores as they are).
// REQUIRES: the ids are distinct and inside the row; penalty > 0, divisor > 0.
struct ScoreRowRule {
  std::span<const int32_t> penalized;
  float penalty = 1.0f;
  float divisor = 1.0f;
};

// Where a processed row's largest value is. NaNs are not values here: `largest` is the largest
// score that is not NaN, `first` the lowest column holding it and `count` how many do (-inf
// counts when it is the largest). A row of NaNs only has count 0 and first 0.
struct LargestScore {
  float largest = 0.0f;
  int32_t first = 0;
  int32_t count = 0;
  bool has_nan = false;

  bool operator==(const LargestScore&) const = default;
};

// Processes `row` in place by `rule` and returns its LargestScore: the CPU backend's op, and
// the reference for every other backend's.
LargestScore process_score_row(std::span<float> row, const ScoreRowRule& rule);

// The LargestScore of `row` as it is.
LargestScore largest_score(std::span<const float> row);

// The two steps of the processing on their own (host rows): the penalty over `distinct_ids`
// (each once, inside the row), and the division of every score.
void penalize_scores(std::span<float> row, std::span<const int32_t> distinct_ids, float penalty);
void divide_scores(std::span<float> row, float divisor);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_SCORES_H_
