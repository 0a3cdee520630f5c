// ClipCaptioner: the one interface between the dataset pipeline and the model.
//
// The pipeline (scheduling, journaling, sharding, merging) never touches media, tokenizer or
// model code; it drives a ClipCaptioner in three stages:
//   1. plan(job, settings): cheap (probe the container, count frames and visual tokens, ask the
//      model for its working-memory estimate). The pipeline checks the cost against the memory
//      budget, and with --fit asks again with lower settings.
//   2. prepare(job, settings): decode frames and build the model inputs. Runs on the decode
//      threads, ahead of the model, so plan() and prepare() MUST be thread-safe.
//   3. add() / step(): a continuous-batching session on one thread. add() puts a prepared clip
//      into the running batch; each step() advances every clip in the batch (prefill for new
//      ones, one decode token for the others) and returns those that finished, so finished
//      clips leave and new ones take their place.
// A per-clip failure is a ClipOutcome (status + one-line reason), never an exception or a fatal
// Status; a fatal Status from step() (e.g. a broken device) ends the run, and a restart
// resumes from the journal.
//
// The real implementation is ModelCaptioner (model_captioner.h); tests use a fake.
#ifndef VCAP_PIPELINE_CAPTIONER_H_
#define VCAP_PIPELINE_CAPTIONER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/clip_status.h"

namespace vcap::pipeline {

// One row to caption.
struct ClipJob {
  uint64_t row_index = 0;      // 0-based data row in the input CSV
  std::string path;            // the `path` field exactly as in the CSV
  std::filesystem::path file;  // `path` resolved against --root
};

// How one clip is sampled and sized. --fit may lower fps and max_pixels (or the exact size).
struct ClipSettings {
  double fps = 4;
  int64_t max_pixels = 448 * 672;  // area cap per frame (area mode)
  int exact_height = 0;            // > 0: resize to exactly exact_height x exact_width
  int exact_width = 0;
  int threads_per_clip = 0;  // FFmpeg decoder threads per clip; 0 lets FFmpeg choose

  bool operator==(const ClipSettings&) const = default;
};

// What captioning one clip will cost, known before decoding.
struct ClipCost {
  int64_t frames = 0;          // sampled frames
  int64_t visual_tokens = 0;   // tokens the video becomes in the prompt
  uint64_t working_bytes = 0;  // model working memory (activations + KV cache) for this clip
  uint64_t prepare_bytes = 0;  // host memory at the peak of prepare(): frames + model inputs
};

// A value of T for a clip, or the reason there is none.
template <typename T>
struct ClipValue {
  ClipOutcome outcome;  // outcome.ok() when `value` is meaningful
  T value{};
};

// Decoded frames and model inputs of one clip; only the captioner that made it reads it.
class PreparedClip {
 public:
  virtual ~PreparedClip() = default;
  // Host memory it holds until add() takes it (the model inputs).
  virtual uint64_t host_bytes() const = 0;
};

// A clip that left the batch.
struct FinishedCaption {
  uint64_t row_index = 0;
  ClipOutcome outcome;  // ok, or e.g. oom
  std::string text;     // the answer (empty unless outcome.ok())
  int64_t output_tokens = 0;
};

class ClipCaptioner {
 public:
  virtual ~ClipCaptioner() = default;

  // Thread-safe. The cost of captioning `job` with `settings`; a failure outcome when the file
  // cannot be used at all (not found, not media, no video, ...).
  virtual ClipValue<ClipCost> plan(const ClipJob& job, const ClipSettings& settings) = 0;

  // Thread-safe. Decodes and preprocesses `job`.
  virtual ClipValue<std::unique_ptr<PreparedClip>> prepare(const ClipJob& job,
                                                           const ClipSettings& settings) = 0;

  // Engine thread only. Adds a prepared clip to the batch. REQUIRES: `clip` came from this
  // captioner's prepare().
  virtual void add(uint64_t row_index, std::unique_ptr<PreparedClip> clip) = 0;

  // Engine thread only. Advances the batch by one step; returns the clips that finished (each
  // added row exactly once over the session). A non-ok Status is fatal for the run.
  virtual Result<std::vector<FinishedCaption>> step() = 0;

  // Engine thread only. Clips in the batch.
  virtual size_t active() const = 0;

  // Working-memory budget to use when --max-memory is not given (e.g. a share of the free
  // memory of the device once the weights are loaded).
  virtual uint64_t default_memory_budget_bytes() const = 0;
};

// Makes the captioner. Separate from it so that runs with nothing left to caption (resume of a
// finished shard, --skip-if-existing) never load weights.
class CaptionerFactory {
 public:
  virtual ~CaptionerFactory() = default;

  // A string that changes whenever captions could change: model files (config, weights,
  // generation config) and anything fixed at load time. Stored in the journal fingerprint.
  // Must be cheap (no weight loading).
  virtual Result<std::string> model_identity() = 0;

  // Loads the model.
  virtual Result<std::unique_ptr<ClipCaptioner>> create() = 0;
};

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CAPTIONER_H_
