#include "model/generation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_set>
#include <utility>

namespace vcap::model {
namespace {

constexpr float kFiltered = -std::numeric_limits<float>::infinity();

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
  std::unordered_set<TokenId> seen;
  seen.reserve(ids.size());
  for (const TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= scores.size() || !seen.insert(id).second) continue;
    float& s = scores[static_cast<size_t>(id)];
    s = s < 0.0f ? s * penalty : s / penalty;
  }
}

void apply_temperature(std::span<float> scores, float temperature) {
  for (float& s : scores) s = s / temperature;
}

void apply_top_k(std::span<float> scores, int64_t top_k) {
  if (scores.empty()) return;
  const auto k =
      static_cast<size_t>(std::clamp<int64_t>(top_k, 1, static_cast<int64_t>(scores.size())));
  std::vector<float> sorted(scores.begin(), scores.end());
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   sorted.end(), std::greater<float>());
  const float threshold = sorted[k - 1];
  for (float& s : scores) {
    if (s < threshold) s = kFiltered;
  }
}

void apply_top_p(std::span<float> scores, float top_p) {
  if (scores.empty()) return;
  // Filtered (-inf) entries have probability 0 and stay filtered: sort only the others (after
  // top_k = 1 that is a single entry instead of the whole vocabulary).
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    if (scores[i] != kFiltered) order.push_back(i);
  }
  if (order.size() <= 1) return;
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

TokenId argmax(std::span<const float> scores) {
  VCAP_CHECK(!scores.empty(), "argmax of an empty score vector");
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return static_cast<TokenId>(best);
}

TokenSelector::TokenSelector(SamplingOptions options)
    : options_(std::move(options)), rng_state_(options_.seed) {}

TokenId TokenSelector::select(std::span<float> scores, std::span<const TokenId> ids) {
  if (options_.repetition_penalty != 1.0f) {
    apply_repetition_penalty(scores, ids, options_.repetition_penalty);
  }
  if (!options_.do_sample) return argmax(scores);
  if (options_.temperature != 1.0f) apply_temperature(scores, options_.temperature);
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
  const float largest = scores[static_cast<size_t>(best)];
  size_t candidates = 0;
  double sum = 0.0;
  for (const float s : scores) {
    if (s == kFiltered) continue;
    ++candidates;
    sum += std::exp(static_cast<double>(s) - largest);
  }
  // One survivor (top_k = 1, the Qwen2-VL setting) is deterministic: no random number used.
  if (candidates <= 1) return best;
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
