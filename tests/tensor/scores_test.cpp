// process_score_row (tensor/scores.h), the reference of Backend::process_scores, on small rows
// worked out by hand; the CPU backend's op on the shared cases (score_cases.h), strided; and the
// op's argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "score_cases.h"
#include "tensor/op_checks.h"
#include "tensor_test_util.h"

namespace vcap::tensor::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(ProcessScoreRow, PenalisesEachIdOnceByItsSignThenDivides) {
  std::vector<float> row = {3.0f, -2.0f, 1.0f, 4.0f};
  const std::vector<int32_t> ids = {0, 1};
  const LargestScore largest = process_score_row(row, {ids, 2.0f, 0.5f});
  EXPECT_EQ(row, (std::vector<float>{3.0f, -8.0f, 2.0f, 8.0f}));  // 3/2/0.5, -2*2/0.5
  EXPECT_EQ(largest, (LargestScore{8.0f, 3, 1, false}));
}

TEST(ProcessScoreRow, CountsTiesAndNamesTheFirst) {
  std::vector<float> row = {1.0f, 5.0f, 2.0f, 5.0f, 5.0f};
  EXPECT_EQ(process_score_row(row, {}), (LargestScore{5.0f, 1, 3, false}));
}

TEST(ProcessScoreRow, NaNsAreFlaggedNeverLargest) {
  std::vector<float> row = {kNan, 1.0f, kNan, 0.5f};
  EXPECT_EQ(process_score_row(row, {}), (LargestScore{1.0f, 1, 1, true}));
  std::vector<float> nans = {kNan, kNan};
  EXPECT_EQ(process_score_row(nans, {}), (LargestScore{-kInf, 0, 0, true}));
}

TEST(ProcessScoreRow, MinusInfinityCountsWhenItIsTheLargest) {
  std::vector<float> row = {-kInf, -kInf, -kInf};
  EXPECT_EQ(process_score_row(row, {}), (LargestScore{-kInf, 0, 3, false}));
}

// The lanes of the vectorised passes: the largest value in the tail and in every lane.
TEST(ProcessScoreRow, FindsTheLargestAtEveryPosition) {
  for (size_t size : {1u, 15u, 16u, 17u, 40u}) {
    for (size_t at = 0; at < size; ++at) {
      std::vector<float> row(size, -1.0f);
      row[at] = 2.0f;
      EXPECT_EQ(process_score_row(row, {}),
                (LargestScore{2.0f, static_cast<int32_t>(at), 1, false}))
          << size << " " << at;
    }
  }
}

TEST(CpuBackendScores, EveryCaseMatchesTheReferenceOnStridedRows) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  for (const ScoreCase& c : score_cases(4096)) {
    const int64_t pad = 3;
    Tensor scores =
        device_matrix(*backend, padded(c.values, c.rows, c.cols, pad, 7.0f), c.rows, c.cols + pad);
    const TensorView view = scores.view().cols_slice(pad, c.cols);
    std::vector<LargestScore> largest(static_cast<size_t>(c.rows));
    backend->process_scores(view, c.rules(), largest);
    expect_as_reference(c, host_values(*backend, view), largest);
    const std::vector<float> all = host_values(*backend, scores.view());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t i = 0; i < pad; ++i) EXPECT_EQ(all[r * (c.cols + pad) + i], 7.0f);
    }
  }
}

TEST(CpuBackendScoresDeathTest, IdsOutsideTheRowAndMismatchedCountsAbort) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  Tensor scores = device_matrix(*backend, std::vector<float>(8, 0.0f), 2, 4);
  const std::vector<int32_t> outside = {4};
  std::vector<ScoreRowRule> rules = {ScoreRowRule{}, ScoreRowRule{outside, 1.05f, 1.0f}};
  std::vector<LargestScore> largest(2);
  EXPECT_DEATH(backend->process_scores(scores.view(), rules, largest),
               "\\[process_scores\\] id 4 outside scores \\[2,4\\]");
  rules.pop_back();
  EXPECT_DEATH(backend->process_scores(scores.view(), rules, largest),
               "\\[process_scores\\] scores \\[2,4\\] with 1 rules and 2 results");
}

}  // namespace
// The CUDA kernel indexes columns in int32 up to a part (4096 columns) past the last: rows
// wider than 2^30 are refused before it runs (never allocated here: the check reads the shape).
TEST(ProcessScoresDeathTest, RowsWiderThan2To30ColumnsAreRefused) {
  std::vector<float> one(1);
  const int64_t cols = (int64_t{1} << 31) - 100;
  const TensorView scores{reinterpret_cast<std::byte*>(one.data()), DType::kF32, 1, cols, cols};
  const std::vector<ScoreRowRule> rules(1);
  std::vector<LargestScore> largest(1);
  EXPECT_DEATH(require_process_scores(scores, rules, largest), "more than 2\\^30 columns");
}

}  // namespace vcap::tensor::testing
