// Cases of Backend::process_scores shared by the tests of every implementation: the CPU
// backend (tests/tensor/scores_test.cpp), the GPU kernels in the SIMT emulator
// (cuda_score_kernels_test.cpp) and on a GPU (tests/gpu/ops_test.cpp). Each is checked bit for
// bit against process_score_row, the reference: the processed scores and every LargestScore.
#ifndef VCAP_TESTS_TENSOR_SCORE_CASES_H_
#define VCAP_TESTS_TENSOR_SCORE_CASES_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tensor/scores.h"

namespace vcap::tensor::testing {

struct ScoreCase {
  std::string name;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;               // [rows, cols] row-major
  std::vector<std::vector<int32_t>> ids;   // per row: distinct penalised ids
  std::vector<float> penalties, divisors;  // per row

  std::vector<ScoreRowRule> rules() const {
    std::vector<ScoreRowRule> result;
    for (int64_t r = 0; r < rows; ++r) {
      const auto i = static_cast<size_t>(r);
      result.push_back(ScoreRowRule{ids[i], penalties[i], divisors[i]});
    }
    return result;
  }
};

// A float x (near `start`) whose next float up gives the same quotient by `divisor`: a tie
// that only the division makes.
inline float quotient_collision(float start, float divisor) {
  for (float x = start;; x = std::nextafter(x, 1e9f)) {
    if (x / divisor == std::nextafter(x, 1e9f) / divisor) return x;
  }
}

// Rows of `cols` random scores in [-8, 8), each with `id_count` distinct random ids penalised
// by 1.05 (the ids include both sides of every kParts boundary given) and divided by `divisor`.
inline ScoreCase random_score_case(std::string name, int64_t rows, int64_t cols, int id_count,
                                   float divisor, uint32_t seed,
                                   std::span<const int32_t> boundaries = {}) {
  ScoreCase c;
  c.name = std::move(name);
  c.rows = rows;
  c.cols = cols;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-8.0f, 8.0f);
  c.values.resize(static_cast<size_t>(rows * cols));
  for (float& v : c.values) v = value(rng);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<bool> taken(static_cast<size_t>(cols));
    std::vector<int32_t> ids;
    const auto take = [&](int64_t id) {
      if (id < 0 || id >= cols || taken[static_cast<size_t>(id)]) return;
      taken[static_cast<size_t>(id)] = true;
      ids.push_back(static_cast<int32_t>(id));
    };
    for (const int32_t b : boundaries) {
      take(b - 1);
      take(b);
    }
    take(0);
    take(cols - 1);
    std::uniform_int_distribution<int64_t> column(0, cols - 1);
    while (static_cast<int64_t>(ids.size()) < std::min<int64_t>(id_count, cols)) take(column(rng));
    c.ids.push_back(std::move(ids));
    c.penalties.push_back(1.05f);
    c.divisors.push_back(divisor);
  }
  return c;
}

// The cases: several parts of a GPU row (`part_columns`), largest values tied across parts,
// ties made by the temperature, penalised maxima, NaNs (also at column 0, and a row of NaNs
// only), a row of -inf only, narrow rows, and no penalty at all.
inline std::vector<ScoreCase> score_cases(int32_t part_columns) {
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const int64_t wide = 2 * part_columns + 123;
  const int32_t boundaries[] = {part_columns, 2 * part_columns};
  std::vector<ScoreCase> cases;

  cases.push_back(random_score_case("random, penalty only", 3, wide, 300, 1.0f, 1, boundaries));
  cases.push_back(
      random_score_case("random, penalty and temperature", 2, wide, 300, 0.1f, 2, boundaries));
  {
    ScoreCase c = random_score_case("no penalty", 2, wide, 0, 1.0f, 3);
    c.penalties = {1.0f, 1.0f};
    cases.push_back(std::move(c));
  }
  {
    ScoreCase c = random_score_case("ties across parts", 2, wide, 50, 1.0f, 4);
    for (int64_t r = 0; r < c.rows; ++r) {
      float* row = c.values.data() + r * c.cols;
      row[100] = row[part_columns + 5] = row[wide - 1] = 9.5f;
    }
    c.ids = {{}, {7}};  // row 1 penalises none of the three
    cases.push_back(std::move(c));
  }
  {
    ScoreCase c = random_score_case("ties made by the temperature", 2, wide, 10, 0.1f, 5);
    const float x = quotient_collision(13.0f, 0.1f);  // 10 ulps of x < one of x / 0.1
    for (int64_t r = 0; r < c.rows; ++r) {
      float* row = c.values.data() + r * c.cols;
      row[part_columns + 1] = std::nextafter(x, 1e9f);
      row[3] = x;
    }
    c.ids = {{}, {}};
    cases.push_back(std::move(c));
  }
  {
    ScoreCase c = random_score_case("the penalty moves the maximum", 1, wide, 1, 1.0f, 6);
    c.values[10] = 9.0f;                 // 9 / 1.05 = 8.57
    c.values[part_columns + 10] = 8.8f;  // the largest once 10 is penalised
    c.values[20] = -9.0f;                // more negative: -9.45
    c.ids = {{10, 20, 30}};
    cases.push_back(std::move(c));
  }
  {
    ScoreCase c = random_score_case("NaNs", 3, wide, 20, 1.0f, 7);
    c.values[static_cast<size_t>(part_columns + 2)] = kNan;  // row 0
    c.values[static_cast<size_t>(wide)] = kNan;              // row 1, column 0
    for (int64_t i = 0; i < wide; ++i) c.values[static_cast<size_t>(2 * wide + i)] = kNan;
    c.ids[2] = {1, 2};
    cases.push_back(std::move(c));
  }
  {
    ScoreCase c = random_score_case("-inf only", 1, wide, 3, 0.5f, 8);
    for (float& v : c.values) v = -kInf;
    cases.push_back(std::move(c));
  }
  for (const int64_t cols : {1, 37, 256, 257}) {
    cases.push_back(random_score_case("narrow " + std::to_string(cols), 2, cols, 5, 0.7f,
                                      static_cast<uint32_t>(9 + cols)));
  }
  return cases;
}

// Compares `processed` ([rows, cols] row-major) and `got` bit for bit with process_score_row.
inline void expect_as_reference(const ScoreCase& c, const std::vector<float>& processed,
                                std::span<const LargestScore> got) {
  SCOPED_TRACE(c.name);
  ASSERT_EQ(processed.size(), c.values.size());
  ASSERT_EQ(got.size(), static_cast<size_t>(c.rows));
  const std::vector<ScoreRowRule> rules = c.rules();
  for (int64_t r = 0; r < c.rows; ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    std::vector<float> want(c.values.begin() + r * c.cols, c.values.begin() + (r + 1) * c.cols);
    const LargestScore want_largest = process_score_row(want, rules[static_cast<size_t>(r)]);
    const LargestScore& g = got[static_cast<size_t>(r)];
    EXPECT_EQ(g.first, want_largest.first);
    EXPECT_EQ(g.count, want_largest.count);
    EXPECT_EQ(g.has_nan, want_largest.has_nan);
    EXPECT_EQ(std::memcmp(&g.largest, &want_largest.largest, sizeof(float)), 0)
        << g.largest << " vs " << want_largest.largest;
    // A GPU's arithmetic on a NaN gives its canonical NaN: any NaN stands for any other.
    const float* row = processed.data() + r * c.cols;
    int64_t differ = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const bool both_nan = std::isnan(row[i]) && std::isnan(want[i]);
      differ += !both_nan && std::memcmp(&row[i], &want[i], sizeof(float)) != 0 ? 1 : 0;
    }
    EXPECT_EQ(differ, 0) << "processed scores differ";
  }
}

}  // namespace vcap::tensor::testing

#endif  // VCAP_TESTS_TENSOR_SCORE_CASES_H_
