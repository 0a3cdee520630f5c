#include "model/generation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
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
