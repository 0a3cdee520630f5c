// The GPU's process_scores kernels (src/tensor/cuda/score_kernels.h) in the SIMT emulator on
// the CPU, bit for bit against process_score_row on the shared cases (score_cases.h): rows cut
// into several parts, ties across parts and made by the temperature, NaNs, -inf, narrow rows.
// On a GPU the same cases run through the CUDA backend in tests/gpu/ops_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "score_cases.h"
#include "simt_emulator.h"
#include "tensor/cuda/score_kernels.h"

namespace vcap::tensor::testing {
namespace {

// Runs the launch as process_scores.cu does, with host memory standing in for the device's.
std::vector<LargestScore> emulate_process_scores(std::vector<float>& scores, int64_t rows,
                                                 int64_t cols, int64_t stride,
                                                 const std::vector<ScoreRowRule>& rules) {
  std::vector<cuda::ScoreRowDesc> descs;
  std::vector<int32_t> ids;
  for (const ScoreRowRule& rule : rules) {
    descs.push_back(cuda::ScoreRowDesc{static_cast<int32_t>(ids.size()),
                                       static_cast<int32_t>(rule.penalized.size()), rule.penalty,
                                       rule.divisor});
    ids.insert(ids.end(), rule.penalized.begin(), rule.penalized.end());
  }
  const int32_t parts = cuda::score_parts(static_cast<int32_t>(cols));
  std::vector<cuda::ScoreMax> partials(static_cast<size_t>(rows * parts));
  std::vector<cuda::ScoreMax> results(static_cast<size_t>(rows));
  cuda::ScoreLaunch launch{};
  launch.scores = scores.data();
  launch.stride = stride;
  launch.rows = static_cast<int32_t>(rows);
  launch.cols = static_cast<int32_t>(cols);
  launch.parts = parts;
  launch.rules = descs.data();
  launch.ids = ids.data();
  launch.partials = partials.data();
  launch.results = results.data();
  std::vector<int32_t> arrivals(static_cast<size_t>(rows), 0);
  launch.arrivals = arrivals.data();
  cuda::simt::emulate_grid(
      static_cast<int>(rows) * parts, cuda::kScoreThreads, cuda::kScoreSharedWords,
      [&](int block, uint32_t* shared) { cuda::score_part_block(launch, block, shared); });
  // Each row's last part reduced the row and left its counter for the next launch.
  EXPECT_EQ(arrivals, std::vector<int32_t>(arrivals.size(), 0));
  std::vector<LargestScore> largest;
  for (const cuda::ScoreMax& m : results) {
    largest.push_back(LargestScore{m.largest, m.first, m.count, m.has_nan != 0});
  }
  return largest;
}

TEST(CudaScoreKernels, EveryCaseMatchesTheReferenceBitForBit) {
  for (const ScoreCase& c : score_cases(cuda::kScorePartColumns)) {
    std::vector<float> scores = c.values;
    const auto largest = emulate_process_scores(scores, c.rows, c.cols, c.cols, c.rules());
    expect_as_reference(c, scores, largest);
  }
}

// Rows `stride` floats apart: the columns between rows are neither read nor written.
TEST(CudaScoreKernels, StridedRowsLeaveTheGapsAlone) {
  const ScoreCase c = random_score_case("strided", 3, 5000, 40, 0.5f, 77);
  const int64_t stride = c.cols + 9;
  std::vector<float> scores(static_cast<size_t>(c.rows * stride), 1e30f);
  for (int64_t r = 0; r < c.rows; ++r) {
    std::copy_n(c.values.begin() + r * c.cols, c.cols, scores.begin() + r * stride);
  }
  const auto largest = emulate_process_scores(scores, c.rows, c.cols, stride, c.rules());
  std::vector<float> processed;
  for (int64_t r = 0; r < c.rows; ++r) {
    processed.insert(processed.end(), scores.begin() + r * stride,
                     scores.begin() + r * stride + c.cols);
    for (int64_t g = c.cols; g < stride; ++g) EXPECT_EQ(scores[r * stride + g], 1e30f);
  }
  expect_as_reference(c, processed, largest);
}

}  // namespace
}  // namespace vcap::tensor::testing
