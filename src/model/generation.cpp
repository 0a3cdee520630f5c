#include "model/generation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

namespace vcap::model {
namespace {

constexpr float kFiltered = -std::numeric_limits<float>::infinity();

// The filters run on the host (when the row's largest score did not decide the token), on
// ~150k scores: the passes are written branch-free so that they vectorise, and on x86-64 built
// for AVX-512 and AVX2 besides the baseline (the best one is chosen when the program loads).
#if defined(__x86_64__)
#define VCAP_VECTOR_PASS [[gnu::target_clones("avx512f", "avx2", "default")]]
#else
#define VCAP_VECTOR_PASS
#endif

// How many scores top-k / top-p left (not kFiltered). Branch-free, so it vectorises: after
// Qwen2-VL's top_k = 1 it is 1, and the later steps stop there.
VCAP_VECTOR_PASS size_t count_unfiltered(std::span<const float> scores) {
  size_t count = 0;
  for (const float s : scores) count += s != kFiltered ? 1 : 0;
  return count;
}

// s = s < threshold ? kFiltered : s.
VCAP_VECTOR_PASS void filter_below(std::span<float> scores, float threshold) {
  for (float& s : scores) s = s < threshold ? kFiltered : s;
}

uint64_t splitmix64(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Status validate_sampling_options(const SamplingOptions& options) {
  if (!(options.repetition_penalty > 0.0f)) {
    return Status::invalid_argument("generation: repetition_penalty must be > 0, got " +
                                    std::to_string(options.repetition_penalty));
  }
  if (options.do_sample && !(options.temperature > 0.0f)) {
    return Status::invalid_argument("generation: temperature must be > 0 when sampling, got " +
                                    std::to_string(options.temperature));
  }
  if (!(options.top_p >= 0.0f && options.top_p <= 1.0f)) {
    return Status::invalid_argument("generation: top_p must be in [0, 1], got " +
                                    std::to_string(options.top_p));
  }
  if (options.top_k < 0) {
    return Status::invalid_argument("generation: top_k must be >= 0, got " +
                                    std::to_string(options.top_k));
  }
  if (options.max_new_tokens < 1) {
    return Status::invalid_argument("generation: max_new_tokens must be >= 1, got " +
                                    std::to_string(options.max_new_tokens));
  }
  return Status();
}

void apply_repetition_penalty(std::span<float> scores, std::span<const TokenId> ids,
                              float penalty) {
  // HF gathers the scores of all ids, penalises them, and scatters them back: an id that
  // occurs several times is penalised once, from its original score.
  DistinctIds distinct(static_cast<int64_t>(scores.size()));
  distinct.add(ids);
  tensor::penalize_scores(scores, distinct.ids(), penalty);
}

void apply_temperature(std::span<float> scores, float temperature) {
  tensor::divide_scores(scores, temperature);
}

void apply_top_k(std::span<float> scores, int64_t top_k) {
  if (scores.empty()) return;
  const auto k =
      static_cast<size_t>(std::clamp<int64_t>(top_k, 1, static_cast<int64_t>(scores.size())));
  float threshold = 0.0f;
  if (k == 1) {  // Qwen2-VL's setting: the largest score, without sorting a copy
    threshold = tensor::largest_score(scores).largest;
  } else {
    std::vector<float> sorted(scores.begin(), scores.end());
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k - 1),
                     sorted.end(), std::greater<float>());
    threshold = sorted[k - 1];
  }
  filter_below(scores, threshold);
}

void apply_top_p(std::span<float> scores, float top_p) {
  // Filtered (-inf) entries have probability 0 and stay filtered: sort only the others (after
  // top_k = 1 that is a single entry instead of the whole vocabulary, and nothing to do).
  const size_t candidates = count_unfiltered(scores);
  if (candidates <= 1) return;
  std::vector<uint32_t> order;
  order.reserve(candidates);
  for (uint32_t i = 0; i < scores.size(); ++i) {
    if (scores[i] != kFiltered) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return scores[a] < scores[b]; });
  const float largest = scores[order.back()];
  double sum = 0.0;
  for (const uint32_t i : order) sum += std::exp(static_cast<double>(scores[i]) - largest);
  const float limit = 1.0f - top_p;  // the reference compares in float32
  float cumulative = 0.0f;
  for (size_t i = 0; i + 1 < order.size(); ++i) {  // the largest entry is always kept
    const float s = scores[order[i]];
    cumulative += static_cast<float>(std::exp(static_cast<double>(s) - largest) / sum);
    if (cumulative <= limit) scores[order[i]] = kFiltered;
  }
}

Result<SamplingOptions> sampling_from_config(const GenerationConfig& config,
                                             int64_t max_new_tokens) {
  SamplingOptions options;
  options.repetition_penalty = config.repetition_penalty;
  options.do_sample = config.do_sample;
  options.temperature = config.temperature;
  options.top_k = config.top_k;
  options.top_p = config.top_p;
  options.eos_ids.assign(config.eos_token_ids.begin(), config.eos_token_ids.end());
  options.max_new_tokens = max_new_tokens;
  if (Status s = validate_sampling_options(options); !s.ok()) return s;
  return options;
}

namespace {

// argmax of a row whose LargestScore is `largest`: the result of `best = 0; take i when
// scores[i] > scores[best]`, i.e. the first index of the largest value, NaNs never taken, but a
// NaN at index 0 never left.
TokenId argmax_of(std::span<const float> scores, const tensor::LargestScore& largest) {
  return std::isnan(scores[0]) ? 0 : largest.first;
}

}  // namespace

TokenId argmax(std::span<const float> scores) {
  VCAP_CHECK(!scores.empty(), "argmax of an empty score vector");
  return argmax_of(scores, tensor::largest_score(scores));
}

void DistinctIds::add(std::span<const TokenId> ids) {
  for (const TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= seen_.size() || seen_[static_cast<size_t>(id)]) {
      continue;
    }
    seen_[static_cast<size_t>(id)] = true;
    ids_.push_back(id);
  }
}

TokenSelector::TokenSelector(SamplingOptions options)
    : options_(std::move(options)), rng_state_(options_.seed) {}

TokenId TokenSelector::select(std::span<float> scores, std::span<const TokenId> ids) {
  VCAP_CHECK(!scores.empty(), "select from an empty score vector");
  DistinctIds distinct(static_cast<int64_t>(scores.size()));
  if (options_.repetition_penalty != 1.0f) distinct.add(ids);
  const tensor::LargestScore largest =
      tensor::process_score_row(scores, score_rule(distinct.ids()));
  const std::optional<TokenId> decided = choice(largest);
  return decided ? *decided : select_processed(scores, largest);
}

tensor::ScoreRowRule TokenSelector::score_rule(std::span<const TokenId> distinct_ids) const {
  tensor::ScoreRowRule rule;
  if (options_.repetition_penalty != 1.0f) {
    rule.penalized = distinct_ids;
    rule.penalty = options_.repetition_penalty;
  }
  if (sampling_temperature()) rule.divisor = options_.temperature;
  return rule;
}

std::optional<TokenId> TokenSelector::choice(const tensor::LargestScore& largest) const {
  if (largest.has_nan || largest.count == 0) return std::nullopt;
  // Greedy: the first largest. Sampling with top_k = 1 keeps the largest scores only; when
  // there is one, top-p keeps it and the draw has a single candidate.
  if (!options_.do_sample || (options_.top_k == 1 && largest.count == 1)) return largest.first;
  return std::nullopt;
}

TokenId TokenSelector::select_processed(std::span<float> scores,
                                        const tensor::LargestScore& largest) {
  VCAP_CHECK(!scores.empty(), "select from an empty score vector");
  if (!options_.do_sample) return argmax_of(scores, largest);
  if (options_.top_k != 0) apply_top_k(scores, options_.top_k);
  if (options_.top_p < 1.0f) apply_top_p(scores, options_.top_p);
  return sample(scores);
}

bool TokenSelector::is_eos(TokenId token) const {
  return std::find(options_.eos_ids.begin(), options_.eos_ids.end(), token) !=
         options_.eos_ids.end();
}

double TokenSelector::next_uniform() {
  return static_cast<double>(splitmix64(rng_state_) >> 11) * 0x1.0p-53;
}

TokenId TokenSelector::sample(std::span<const float> scores) {
  const TokenId best = argmax(scores);
  // One survivor (top_k = 1, the Qwen2-VL setting) is deterministic: no random number used.
  if (count_unfiltered(scores) <= 1) return best;
  const float largest = scores[static_cast<size_t>(best)];
  double sum = 0.0;
  for (const float s : scores) {
    if (s != kFiltered) sum += std::exp(static_cast<double>(s) - largest);
  }
  const double target = next_uniform() * sum;
  double cumulative = 0.0;
  TokenId last = best;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] == kFiltered) continue;
    cumulative += std::exp(static_cast<double>(scores[i]) - largest);
    last = static_cast<TokenId>(i);
    if (target < cumulative) return last;
  }
  return last;  // rounding left target == sum: the last candidate
}

}  // namespace vcap::model
