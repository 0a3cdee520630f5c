// Token selection exactly as Hugging Face `generate` does it (spec/QWEN2VL.md §12).
//
// The logits of one step pass through the active processors in HF's fixed order: repetition
// penalty (over ALL ids so far, prompt included), then, only when sampling, temperature,
// top-k and top-p. The token is then the argmax (lowest index on ties) when not sampling or
// when a single candidate survives, otherwise a draw from softmax(scores).
//
// The sampler's random numbers come from a seeded splitmix64 stream, NOT from torch's RNG:
// a sampled draw with more than one candidate is reproducible in vcap but will not match
// Python. With the Qwen2-VL settings (top_k = 1) only one candidate ever survives (bar exact
// ties), so the choice is deterministic and identical to the reference.
#ifndef VCAP_MODEL_GENERATION_H_
#define VCAP_MODEL_GENERATION_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/rope_index.h"
#include "tensor/scores.h"

namespace vcap::model {

// The generation settings (generation_config.json, spec §2.4), with HF's meaning of "inactive".
struct SamplingOptions {
  float repetition_penalty = 1.0f;  // active when != 1
  bool do_sample = false;           // false: argmax; temperature/top-k/top-p are ignored
  float temperature = 1.0f;         // active when != 1 (and > 0)
  int64_t top_k = 0;                // active when != 0
  float top_p = 1.0f;               // active when < 1
  std::vector<TokenId> eos_ids = {151645, 151643};
  int64_t max_new_tokens = 200;  // generated tokens, the eos token included
  uint64_t seed = 0;             // the sampler's stream (see the file comment)
};

// Checks the ranges HF checks (penalty > 0, temperature > 0 when sampling, 0 <= top_p <= 1,
// top_k >= 0, max_new_tokens >= 1).
Status validate_sampling_options(const SamplingOptions& options);

// The settings of a parsed generation_config.json (model/config.h: absent keys already carry
// HF's GenerationConfig defaults) with the caller's max_new_tokens (the file's is ignored: the
// caption length is the caller's decision). Validated with validate_sampling_options.
Result<SamplingOptions> sampling_from_config(const GenerationConfig& config,
                                             int64_t max_new_tokens);

// Repetition penalty r over every distinct id in `ids` (spec §12.2): s < 0 ? s·r : s/r.
// Ids outside the vocabulary are ignored.
void apply_repetition_penalty(std::span<float> scores, std::span<const TokenId> ids, float penalty);
// s = s / temperature.
void apply_temperature(std::span<float> scores, float temperature);
// Everything below the k-th largest value becomes -inf; ties with it survive. k is clamped to
// [1, vocab].
void apply_top_k(std::span<float> scores, int64_t top_k);
// Nucleus filter: in ascending order, drop entries whose cumulative softmax probability is
// <= 1 - top_p, always keeping the largest one.
void apply_top_p(std::span<float> scores, float top_p);
// Index of the largest value, the lowest index on ties. REQUIRES: scores not empty.
TokenId argmax(std::span<const float> scores);

// Every id of a sequence once, in order of first appearance: the ids the repetition penalty
// applies to, kept as the sequence grows instead of found again among thousands at each step.
// Ids outside [0, vocab_size) are left out, as apply_repetition_penalty ignores them.
class DistinctIds {
 public:
  explicit DistinctIds(int64_t vocab_size) : seen_(static_cast<size_t>(vocab_size)) {}
  void add(std::span<const TokenId> ids);
  void add(TokenId id) { add(std::span(&id, 1)); }
  std::span<const TokenId> ids() const { return ids_; }

 private:
  std::vector<bool> seen_;
  std::vector<TokenId> ids_;
};

// Chooses the next token of one sequence, step after step. Owns its random stream, so one
// TokenSelector per sequence makes a batch reproducible whatever the batch composition.
//
// A choice is made in two parts, so that a device can do the first on the logits it made:
//   1. the processing every setting shares (penalty, and temperature when sampling), with the
//      row's largest score found (score_rule, Backend::process_scores);
//   2. choice() when that decides the token (greedy, or top_k = 1 with a single largest score:
//      Qwen2-VL's settings, bar exact ties), else select_processed() on the processed row.
class TokenSelector {
 public:
  explicit TokenSelector(SamplingOptions options);

  // Both parts on the host: `scores` are processed in place and the chosen token returned.
  // `ids` = every id so far (prompt and generated). The scores are left processed up to the
  // temperature, and further (top-k, top-p) only when the choice needed it.
  TokenId select(std::span<float> scores, std::span<const TokenId> ids);

  // Part 1's settings for this sequence; `distinct_ids` = DistinctIds::ids() of every id so
  // far, and must outlive the rule.
  tensor::ScoreRowRule score_rule(std::span<const TokenId> distinct_ids) const;
  // The token when `largest` (of a row processed by score_rule) decides it; no random number
  // is drawn. nullopt: call select_processed with the row.
  std::optional<TokenId> choice(const tensor::LargestScore& largest) const;
  // Part 2 on a processed row whose LargestScore is `largest`: the rest of the processors (in
  // place) and the choice, as select makes it.
  TokenId select_processed(std::span<float> scores, const tensor::LargestScore& largest);

  // True when `token` ends the sequence, or when `num_generated` (the eos included) reached
  // max_new_tokens.
  bool is_eos(TokenId token) const;
  bool finished(TokenId last_token, int64_t num_generated) const {
    return is_eos(last_token) || num_generated >= options_.max_new_tokens;
  }
  const SamplingOptions& options() const { return options_; }

 private:
  // A uniform double in [0, 1) from the splitmix64 stream.
  double next_uniform();
  TokenId sample(std::span<const float> scores);
  bool sampling_temperature() const { return options_.do_sample && options_.temperature != 1.0f; }

  SamplingOptions options_;
  uint64_t rng_state_;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_GENERATION_H_
