// Position ids and decode-step scores against the golden cases (spec §10.1, §12.2). The small
// files are in tests/data/model; position_ids of the larger cases come from ../shared.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "golden_case.h"
#include "model/generation.h"
#include "model/rope_index.h"

namespace vcap::model {
namespace {

using testing::find_case_file;
using testing::read_json;
using testing::read_npy;

const char* const kCases[] = {
    "pico__asl-book-fps1-small", "pico__bear-vp9", "pico__classroom-gif",    "pico__hevc-main10",
    "pico__test3-default",       "pico-b__bikes",  "pico-b__short-0.2s-fps2"};

TEST(GoldenPositions, GetRopeIndexReproducesEveryCasePositionIds) {
  int checked = 0;
  for (const char* name : kCases) {
    const auto ids_file = find_case_file(name, "input_ids.npy");
    const auto pos_file = find_case_file(name, "position_ids.npy");
    if (!ids_file || !pos_file) continue;  // large arrays only in ../shared
    SCOPED_TRACE(name);
    const auto ids = testing::to_token_ids(read_npy(*ids_file).as<int64_t>());
    const auto grids = testing::grids_from_npy(read_npy(*find_case_file(name, "grid_thw.npy")));
    auto index = get_rope_index(ids, {}, grids, 2);
    ASSERT_TRUE(index.ok()) << index.status().to_string();
    EXPECT_EQ(index->positions, read_npy(*pos_file).as<int64_t>());
    const auto summary = read_json(*find_case_file(name, "summary.json"));
    EXPECT_EQ(index->rope_delta, summary["rope_delta"].get<int64_t>());
    ++checked;
  }
  EXPECT_GE(checked, 2);  // the two cases copied into tests/data/model
  if (checked < 7) std::printf("[golden positions] %d of 7 cases (../shared absent)\n", checked);
}

// Every recorded decode step: the penalised scores of steps_top5.json follow from the raw
// logits by the repetition penalty over prompt + generated ids, and the token is their argmax.
TEST(GoldenSteps, RepetitionPenaltyReproducesTheRecordedScores) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const auto ids_file = find_case_file(name, "input_ids.npy");
    if (!ids_file) continue;
    std::vector<TokenId> ids = testing::to_token_ids(read_npy(*ids_file).as<int64_t>());
    const auto generated =
        read_json(*find_case_file(name, "generated_ids.json")).get<std::vector<TokenId>>();
    const auto args = read_json(*find_case_file(name, "args.json"));
    const float penalty = args["repetition_penalty"].get<float>();
    for (const auto& step : read_json(*find_case_file(name, "steps_top5.json"))) {
      const auto s = step["step"].get<size_t>();
      const std::set<TokenId> seen(ids.begin(), ids.end());
      const auto raw_ids = step["raw_top_ids"].get<std::vector<TokenId>>();
      const auto raw_values = step["raw_top_values"].get<std::vector<float>>();
      const auto top_ids = step["scores_top_ids"].get<std::vector<TokenId>>();
      const auto top_values = step["scores_top_values"].get<std::vector<float>>();
      for (size_t i = 0; i < raw_ids.size(); ++i) {
        const auto at = std::find(top_ids.begin(), top_ids.end(), raw_ids[i]);
        if (at == top_ids.end()) continue;
        std::vector<float> score = {raw_values[i]};
        const std::vector<TokenId> hit = {seen.count(raw_ids[i]) ? 0 : -1};
        apply_repetition_penalty(score, hit, penalty);
        EXPECT_EQ(score[0], top_values[static_cast<size_t>(at - top_ids.begin())])
            << "step " << s << " id " << raw_ids[i];
      }
      EXPECT_EQ(step["token"].get<TokenId>(), top_ids[0]);
      ASSERT_LT(s, generated.size());
      EXPECT_EQ(generated[s], step["token"].get<TokenId>());
      ids.push_back(generated[s]);
    }
  }
}

}  // namespace
}  // namespace vcap::model
