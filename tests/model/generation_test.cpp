#include "model/generation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace vcap::model {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(RepetitionPenalty, DividesPositiveAndMultipliesNegativeScoresOncePerDistinctId) {
  std::vector<float> scores = {2.0f, -2.0f, 0.0f, 3.0f};
  const std::vector<TokenId> ids = {0, 1, 1, 2, 0, 0};
  apply_repetition_penalty(scores, ids, 2.0f);
  EXPECT_EQ(scores, (std::vector<float>{1.0f, -4.0f, 0.0f, 3.0f}));
}

TEST(RepetitionPenalty, UsesFloat32DivisionLikeTheReference) {
  std::vector<float> scores = {7.256402969360352f};
  const std::vector<TokenId> ids = {0};
  apply_repetition_penalty(scores, ids, 1.05f);
  EXPECT_EQ(scores[0], 7.256402969360352f / 1.05f);
}

TEST(RepetitionPenalty, IgnoresIdsOutsideTheVocabulary) {
  std::vector<float> scores = {1.0f, 1.0f};
  const std::vector<TokenId> ids = {-1, 2, 151656};
  apply_repetition_penalty(scores, ids, 2.0f);
  EXPECT_EQ(scores, (std::vector<float>{1.0f, 1.0f}));
}

TEST(Temperature, DividesEveryScore) {
  std::vector<float> scores = {1.0f, -0.5f};
  apply_temperature(scores, 0.5f);
  EXPECT_EQ(scores, (std::vector<float>{2.0f, -1.0f}));
}

TEST(TopK, KeepsTiesWithTheKthValue) {
  std::vector<float> scores = {1.0f, 3.0f, 2.0f, 3.0f, 2.0f};
  apply_top_k(scores, 2);
  EXPECT_EQ(scores, (std::vector<float>{-kInf, 3.0f, -kInf, 3.0f, -kInf}));
  scores = {1.0f, 3.0f, 2.0f, 2.0f};
  apply_top_k(scores, 2);
  EXPECT_EQ(scores, (std::vector<float>{-kInf, 3.0f, 2.0f, 2.0f}));
}

TEST(TopK, ClampsKToTheVocabularyAndToAtLeastOne) {
  std::vector<float> scores = {1.0f, 2.0f};
  apply_top_k(scores, 10);
  EXPECT_EQ(scores, (std::vector<float>{1.0f, 2.0f}));
  apply_top_k(scores, -3);
  EXPECT_EQ(scores, (std::vector<float>{-kInf, 2.0f}));
}

TEST(TopP, DropsTheLowTailAndAlwaysKeepsTheLargest) {
  // Probabilities 0.1, 0.2, 0.7 (log scores): top_p 0.75 keeps {0.7, 0.2} (cumulative 0.1
  // <= 0.25 goes, 0.3 > 0.25 stays).
  std::vector<float> scores = {std::log(0.1f), std::log(0.2f), std::log(0.7f)};
  apply_top_p(scores, 0.75f);
  EXPECT_EQ(scores[0], -kInf);
  EXPECT_NE(scores[1], -kInf);
  EXPECT_NE(scores[2], -kInf);
  std::vector<float> tiny = {std::log(0.1f), std::log(0.2f), std::log(0.7f)};
  apply_top_p(tiny, 0.001f);
  EXPECT_EQ(tiny[0], -kInf);
  EXPECT_EQ(tiny[1], -kInf);
  EXPECT_NE(tiny[2], -kInf);
}

TEST(Argmax, ReturnsTheLowestIndexOnTies) {
  const std::vector<float> scores = {0.0f, 5.0f, -1.0f, 5.0f};
  EXPECT_EQ(argmax(scores), 1);
}

// The passes over the scores work on 16 values at a time: rows of the real vocabulary size
// (151936, a multiple of 16) plus a tail of 7 against the plain loop they replace.
size_t plain_argmax(const std::vector<float>& scores) {
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

std::vector<float> vocabulary_row(uint32_t seed, size_t size = 151936 + 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> row(size);
  for (float& x : row) x = dist(rng);
  return row;
}

TEST(Argmax, MatchesThePlainLoopOnVocabularySizedRows) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> rows;
  rows.push_back(vocabulary_row(1));
  rows.push_back(vocabulary_row(2));
  rows.back()[40000] = rows.back()[7] = 50.0f;  // ties in different lanes: the lower index
  rows.push_back(vocabulary_row(3));
  rows.back().back() = 50.0f;  // in the tail
  rows.push_back(vocabulary_row(4));
  rows.back()[0] = nan;  // a NaN at index 0 is kept
  rows.push_back(vocabulary_row(5));
  rows.back()[3] = rows.back()[100] = nan;  // other NaNs never win
  rows.back()[60001] = 40.0f;
  rows.push_back(std::vector<float>(151936, -kInf));
  rows.push_back(std::vector<float>(33, 0.0f));
  rows.back()[17] = -0.0f;
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ(argmax(rows[r]), static_cast<TokenId>(plain_argmax(rows[r]))) << "row " << r;
  }
}

TEST(TopK, KOfOneKeepsEveryCopyOfTheLargestInALongRow) {
  std::vector<float> scores = vocabulary_row(6);
  scores[9] = scores[150000] = scores.back() = 60.0f;
  apply_top_k(scores, 1);
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool kept = i == 9 || i == 150000 || i == scores.size() - 1;
    EXPECT_EQ(scores[i], kept ? 60.0f : -kInf) << i;
  }
}

// Qwen2-VL's settings on a vocabulary-sized row, against the processors written plainly:
// penalty once per distinct id, division by the temperature, all but the largest filtered.
TEST(TokenSelector, QwenSettingsOnAVocabularySizedRowMatchThePlainProcessors) {
  SamplingOptions options;
  options.do_sample = true;
  options.top_k = 1;
  options.top_p = 0.001f;
  options.temperature = 0.1f;
  options.repetition_penalty = 1.05f;
  std::vector<TokenId> ids(7280, 151656);  // the video pads
  for (TokenId id = 0; id < 3000; id += 7) ids.push_back(id);
  ids.push_back(14);  // a repeat
  for (uint32_t seed = 10; seed < 14; ++seed) {
    std::vector<float> scores = vocabulary_row(seed, 151936);
    scores[14] = 30.0f;  // the largest until penalised: 30/1.05 = 28.57
    scores[90001] = 29.0f;
    std::vector<float> want = scores;
    std::vector<bool> seen(want.size());
    for (const TokenId id : ids) {
      if (seen[id]) continue;
      seen[id] = true;
      want[id] = want[id] < 0.0f ? want[id] * 1.05f : want[id] / 1.05f;
    }
    for (float& s : want) s = s / 0.1f;
    const size_t best = plain_argmax(want);
    TokenSelector selector(options);
    EXPECT_EQ(selector.select(scores, ids), 90001);
    EXPECT_EQ(best, 90001u);
    // Processed up to the temperature: the one largest score decided, no filter ran.
    EXPECT_EQ(scores, want);
  }
}

TEST(DistinctIds, KeepsEachIdInTheVocabularyOnceInOrderOfFirstAppearance) {
  DistinctIds distinct(10);
  const std::vector<TokenId> ids = {4, 2, 4, -1, 10, 2, 9};
  distinct.add(ids);
  distinct.add(4);
  distinct.add(0);
  EXPECT_EQ(std::vector<TokenId>(distinct.ids().begin(), distinct.ids().end()),
            (std::vector<TokenId>{4, 2, 9, 0}));
}

// choice() decides from a processed row's LargestScore alone (on a GPU, without the row). It
// must give what the remaining processors give on the row, and draw no random number: the
// selector's later draws are those of a fresh one with the same seed. Settings: greedy, Qwen2-VL's,
// top_k = 1 without temperature, and wider sampling (where it must never decide); rows with
// ties, ties made by the temperature, NaNs.
TEST(TokenSelector, ChoiceAgreesWithTheRemainingProcessorsWheneverItDecides) {
  const auto settings = [] {
    std::vector<SamplingOptions> all(4);
    all[0].repetition_penalty = 1.05f;
    all[1] = {.repetition_penalty = 1.05f,
              .do_sample = true,
              .temperature = 0.1f,
              .top_k = 1,
              .top_p = 0.001f};
    all[2] = {.do_sample = true, .top_k = 1};
    all[3] = {.do_sample = true, .temperature = 0.7f, .top_k = 5, .top_p = 0.9f};
    for (size_t i = 0; i < all.size(); ++i) all[i].seed = 11 + i;
    return all;
  }();
  std::vector<std::vector<float>> rows;
  for (uint32_t seed = 20; seed < 24; ++seed) rows.push_back(vocabulary_row(seed, 3000));
  rows.push_back(vocabulary_row(24, 3000));
  rows.back()[5] = rows.back()[2900] = 60.0f;  // a tie
  rows.push_back(vocabulary_row(25, 3000));
  float x = 13.0f;  // the first x >= 13 whose next float has the same quotient by 0.1
  while (x / 0.1f != std::nextafter(x, 100.0f) / 0.1f) x = std::nextafter(x, 100.0f);
  rows.back()[40] = x;
  rows.back()[41] = std::nextafter(x, 100.0f);  // largest without, tied with the temperature
  rows.push_back(vocabulary_row(26, 3000));
  rows.back()[0] = std::numeric_limits<float>::quiet_NaN();
  rows.push_back(vocabulary_row(27, 3000));
  rows.back()[1000] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<TokenId> ids = {1, 2, 3, 500, 2900};
  for (size_t k = 0; k < settings.size(); ++k) {
    int decided = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      SCOPED_TRACE("settings " + std::to_string(k) + ", row " + std::to_string(r));
      TokenSelector by_choice(settings[k]);
      TokenSelector by_processors(settings[k]);
      DistinctIds distinct(3000);
      distinct.add(ids);
      std::vector<float> scores = rows[r];
      const tensor::LargestScore largest =
          tensor::process_score_row(scores, by_choice.score_rule(distinct.ids()));
      const std::optional<TokenId> choice = by_choice.choice(largest);
      const TokenId full = by_processors.select_processed(scores, largest);
      if (!choice) continue;
      ++decided;
      EXPECT_EQ(*choice, full);
      TokenSelector fresh(settings[k]);
      for (int draw = 0; draw < 8; ++draw) {
        std::vector<float> even(2, 0.0f), even_too(2, 0.0f);
        EXPECT_EQ(by_processors.select(even, {}), fresh.select(even_too, {}))
            << "a number was drawn";
      }
    }
    // Greedy and the top_k = 1 settings decide the plain rows at least; wider sampling never.
    if (k < 3) {
      EXPECT_GE(decided, 4) << "settings " << k;
    } else {
      EXPECT_EQ(decided, 0);
    }
  }
}

TEST(TokenSelector, GreedyAppliesOnlyThePenaltyThenArgmax) {
  SamplingOptions options;
  options.repetition_penalty = 2.0f;
  options.temperature = 0.01f;  // inactive without sampling
  TokenSelector selector(options);
  std::vector<float> scores = {3.0f, 2.0f, 1.0f};
  const std::vector<TokenId> ids = {0};
  EXPECT_EQ(selector.select(scores, ids), 1);
  EXPECT_EQ(scores, (std::vector<float>{1.5f, 2.0f, 1.0f}));
}

TEST(TokenSelector, QwenSettingsAreDeterministicLikeArgmax) {
  SamplingOptions options;  // generation_config.json of Qwen2-VL
  options.do_sample = true;
  options.top_k = 1;
  options.top_p = 0.001f;
  options.temperature = 0.01f;
  options.repetition_penalty = 1.05f;
  std::vector<float> raw = {1.0f, 4.0f, 4.1f, -2.0f};
  const std::vector<TokenId> ids = {2};  // penalised: 4.1/1.05 = 3.905 < 4
  for (uint64_t seed = 0; seed < 5; ++seed) {
    options.seed = seed;
    TokenSelector selector(options);
    std::vector<float> scores = raw;
    EXPECT_EQ(selector.select(scores, ids), 1);
  }
}

TEST(TokenSelector, SamplingFollowsTheProbabilitiesAndIsSeedable) {
  SamplingOptions options;
  options.do_sample = true;
  options.seed = 42;
  TokenSelector a(options);
  TokenSelector b(options);
  std::map<TokenId, int> counts;
  const std::vector<float> raw = {std::log(0.25f), std::log(0.75f)};
  for (int i = 0; i < 4000; ++i) {
    std::vector<float> sa = raw, sb = raw;
    const TokenId ta = a.select(sa, {});
    EXPECT_EQ(ta, b.select(sb, {}));
    ++counts[ta];
  }
  EXPECT_NEAR(counts[1] / 4000.0, 0.75, 0.03);
}

TEST(TokenSelector, FinishesOnEosOrAtMaxNewTokensCountingTheEos) {
  SamplingOptions options;
  options.max_new_tokens = 3;
  TokenSelector selector(options);
  EXPECT_TRUE(selector.finished(151645, 1));
  EXPECT_TRUE(selector.finished(151643, 1));
  EXPECT_FALSE(selector.finished(10, 2));
  EXPECT_TRUE(selector.finished(10, 3));
}

TEST(SamplingOptions, RejectsOutOfRangeSettings) {
  SamplingOptions options;
  EXPECT_TRUE(validate_sampling_options(options).ok());
  options.top_p = 1.5f;
  EXPECT_FALSE(validate_sampling_options(options).ok());
  options = {};
  options.repetition_penalty = 0.0f;
  EXPECT_FALSE(validate_sampling_options(options).ok());
  options = {};
  options.max_new_tokens = 0;
  EXPECT_FALSE(validate_sampling_options(options).ok());
  options = {};
  options.do_sample = true;
  options.temperature = 0.0f;
  EXPECT_FALSE(validate_sampling_options(options).ok());
}

}  // namespace
}  // namespace vcap::model
