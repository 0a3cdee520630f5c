// Token selection on the host, per sequence and decode step: TokenSelector::select on a
// Qwen2-VL-size logits row (151936 ids) after a default clip's prompt (7306 ids: the video
// pads, a few hundred distinct text ids) plus 100 generated ids: the host's whole choice
// (process_score_row, then TokenSelector::choice or the remaining processors), which the CPU
// backend runs for every row of a step. A GPU runs the first part itself (process_scores), and
// the host finishes only the rows the largest score does not decide.
// Cases: the checkpoint's generation_config (Qwen2-VL: repetition_penalty 1.05, do_sample with
// temperature 0.1, top_k 1, top_p 0.001), and greedy without a penalty.
// Run from a Release build: build/release/sampling_bench.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "model/generation.h"

namespace {

using vcap::model::SamplingOptions;
using vcap::model::TokenId;
using vcap::model::TokenSelector;

constexpr int64_t kVocab = 151936;

std::vector<float> logits_row() {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> row(kVocab);
  for (float& x : row) x = dist(rng);
  return row;
}

std::vector<TokenId> prompt_and_generated_ids() {
  std::mt19937 rng(2);
  std::uniform_int_distribution<TokenId> text(0, 150000);
  std::vector<TokenId> ids;
  for (int i = 0; i < 26; ++i) ids.push_back(text(rng));          // system and question text
  for (int i = 0; i < 7280; ++i) ids.push_back(151656);           // <|video_pad|>
  for (int i = 0; i < 100; ++i) ids.push_back(text(rng) % 3000);  // generated words
  return ids;
}

void run(benchmark::State& state, const SamplingOptions& options) {
  const std::vector<float> row = logits_row();
  const std::vector<TokenId> ids = prompt_and_generated_ids();
  TokenSelector selector(options);
  std::vector<float> scores(row.size());
  for (auto _ : state) {
    state.PauseTiming();
    scores = row;  // select() works in place
    state.ResumeTiming();
    benchmark::DoNotOptimize(selector.select(scores, ids));
  }
}

void BM_SelectQwen2VlGenerationConfig(benchmark::State& state) {
  SamplingOptions options;
  options.repetition_penalty = 1.05f;
  options.do_sample = true;
  options.temperature = 0.1f;
  options.top_k = 1;
  options.top_p = 0.001f;
  run(state, options);
}
BENCHMARK(BM_SelectQwen2VlGenerationConfig)->Unit(benchmark::kMicrosecond);

void BM_SelectGreedy(benchmark::State& state) { run(state, SamplingOptions{}); }
BENCHMARK(BM_SelectGreedy)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
