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
#include <span>
#include <vector>

#include "model/config.h"
#include "model/rope_index.h"

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

// Chooses the next token of one sequence, step after step. Owns its random stream, so one
// TokenSelector per sequence makes a batch reproducible whatever the batch composition.
class TokenSelector {
 public:
  explicit TokenSelector(SamplingOptions options);

  // Runs the processors on `scores` in place (they become HF's "scores" of this step) and
  // returns the chosen token. `ids` = every id so far (prompt and generated).
  TokenId select(std::span<float> scores, std::span<const TokenId> ids);

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

  SamplingOptions options_;
  uint64_t rng_state_;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_GENERATION_H_
