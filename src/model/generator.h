// Generator: continuous-batching generation over one Qwen2VL (spec/QWEN2VL.md §12.1).
//
// Usage (the pipeline's loop):
//   Generator gen(model, {.max_batch = 8});
//   gen.add(request) ...                  // queue clips; add more whenever results come out
//   while (!gen.idle()) {
//     auto finished = gen.step();         // results of sequences that ended in this step
//   }
//
// step() first admits queued requests while fewer than max_batch sequences are active: their
// videos go through the vision tower together (concatenated rows, one attention segment per
// frame pair), then each prompt is prefilled in chunks into its own KV cache (sized prompt +
// max_new_tokens) and its first token chosen. Then ONE batched decode pass runs for all active
// sequences: one GEMM per weight for all rows, attention with one causal block per sequence over
// its own cache. Sequences that end leave at once, freeing their cache.
//
// Each sequence has its own TokenSelector (and random stream): with f32 weights the ids of a
// sequence do not depend on what else is in the batch (tests check batch N == batch 1).
// A request that fails (bad ids, out of memory) ends with its own non-ok status; the others go
// on. Not thread-safe; the model (and its backend) must outlive the generator.
#ifndef VCAP_MODEL_GENERATOR_H_
#define VCAP_MODEL_GENERATOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "model/qwen2vl.h"

namespace vcap::model {

struct GeneratorOptions {
  int64_t max_batch = 8;  // sequences decoded together
};

class Generator {
 public:
  Generator(const Qwen2VL& model, GeneratorOptions options = {});
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) = delete;

  // Queues a request. kInvalidArgument (and nothing queued) for bad sampling options or an
  // empty prompt; everything else is checked when the request is admitted.
  Status add(GenerationRequest request);

  // Admits what fits, runs one decode step, and returns the requests that finished (ok or
  // not). A non-ok Result means the backend itself failed (every request is then lost).
  Result<std::vector<GenerationResult>> step();

  // Vision (unless the request carries features) and prefill of one request, outside the
  // batch; returns the raw logits [vocab] at the last prompt position (no processors applied).
  Result<std::vector<float>> prefill_logits(GenerationRequest request);

  bool idle() const { return queue_.empty() && active_.empty(); }
  size_t active() const { return active_.size(); }
  size_t queued() const { return queue_.size(); }
  // Stage times summed over every step so far.
  const StageTimes& times() const { return times_; }

 private:
  struct Sequence;
  struct Scratch;

  // Vision + prefill for up to `count` queued requests; appends failures and instant finishes.
  Status admit(size_t count, std::vector<GenerationResult>& finished);
  // Prefills `seq` (its ids hold the prompt) in chunks; `features` rows [feature_row, ...) are
  // its video tokens. Leaves the last position's raw logits in row 0 of the scratch logits.
  Status prefill(Sequence& seq, const std::vector<VisionGrid>& grids,
                 const tensor::Tensor& features, int64_t feature_row);
  // Where each admitted request's vision features are: a device tensor and its first row.
  struct FeatureSet;
  // The vision features of `requests`: the tower runs once on all their pixel_values
  // (concatenated); golden features given by a request are uploaded as they are.
  Result<FeatureSet> features_for(const std::vector<GenerationRequest*>& requests);
  // A sequence for `request`, prefilled; its first token not chosen yet.
  Result<std::unique_ptr<Sequence>> start(GenerationRequest& request,
                                          const tensor::Tensor& features, int64_t feature_row);
  // The next token of sequences[i] from the scratch logits' row i, for every i. The backend
  // processes the rows where they are (Backend::process_scores) and sends back each row's
  // largest score, which usually decides; a row it does not decide is downloaded and chosen
  // on the host (rows in parallel, Backend::parallel_for_host). An error: the backend failed.
  Result<std::vector<TokenId>> select_tokens(std::span<Sequence* const> sequences);
  // Records `chosen` as seq's next token; true when it finished.
  bool take(Sequence& seq, TokenId chosen);
  static GenerationResult result_of(Sequence& seq);
  Status decode_step(std::vector<GenerationResult>& finished);
  Status ensure_scratch(int64_t rows);

  const Qwen2VL& model_;
  GeneratorOptions options_;
  std::deque<GenerationRequest> queue_;
  std::vector<std::unique_ptr<Sequence>> active_;
  std::unique_ptr<Scratch> scratch_;
  std::vector<float> inv_freq_;  // M-RoPE inverse frequencies
  StageTimes times_;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_GENERATOR_H_
