// Qwen2VL: the whole model (vision tower + language model) loaded once onto a backend, and the
// stage-by-stage entry points that tests, `vcap inspect` and the pipeline use.
//
// Generation itself (one or many sequences, continuous batching) lives in model/generator.h;
// `generate` here is the one-sequence convenience on top of it.
//
// Lifetime: the Backend passed to load must outlive the Qwen2VL. A Qwen2VL is immutable after
// loading; the Backend is single-threaded, so use one Qwen2VL from one thread at a time.
#ifndef VCAP_MODEL_QWEN2VL_H_
#define VCAP_MODEL_QWEN2VL_H_

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"
#include "model/generation.h"
#include "model/language_model.h"
#include "model/model_dims.h"
#include "model/processor.h"
#include "model/rope_index.h"
#include "model/vision_encoder.h"
#include "tensor/backend.h"

namespace vcap::model {

// Wall-clock seconds per stage, and the work done, summed over the calls that filled it.
struct StageTimes {
  double vision_s = 0;
  double prefill_s = 0;
  double decode_s = 0;
  int64_t vision_patches = 0;    // pixel_values rows encoded
  int64_t prompt_tokens = 0;     // tokens prefilled
  int64_t generated_tokens = 0;  // tokens chosen (prefill's first token included)
  // Of those, the tokens whose scores the host had to see because the backend's largest score
  // did not decide them (TokenSelector::choice): 0 with Qwen2-VL's settings, bar exact ties.
  int64_t tokens_chosen_on_host = 0;
  int64_t decode_steps = 0;      // batched forward passes of one token per sequence
  // The steps that had a single sequence, and their seconds (part of the above): a batched
  // run's bs-1 tail, so that batching can be compared with bs 1 in the same process.
  int64_t single_decode_steps = 0;
  double single_decode_s = 0;
  // Where a decode step's seconds go on the host (part of decode_s): issuing its work up to
  // the logits (on a GPU: kernel launches, which run ahead of the device unless they are the
  // bottleneck; on the CPU: the computation itself), and choosing the tokens once the step is
  // done (Backend::process_scores, and the host's part for rows it did not decide). The rest is
  // waiting for the device.
  double decode_issue_s = 0;
  double decode_select_s = 0;

  StageTimes& operator+=(const StageTimes& other);
};

// One sequence to caption: the prompt with its video pads expanded, the grids of its videos
// (in order), and either the pixel_values [Σ patches, patch_features] or, to feed a stage with
// golden inputs, the vision features [Σ tokens, hidden] (row-major f32, host).
struct GenerationRequest {
  uint64_t id = 0;  // the caller's handle, returned in GenerationResult
  std::vector<TokenId> input_ids;
  std::vector<VisionGrid> video_grids;
  PixelValues pixel_values;            // rows: the patches of video_grids, in order
  std::vector<float> vision_features;  // when non-empty, pixel_values are not used
  SamplingOptions sampling;
  // Evaluation only (teacher forcing): when non-empty, step i feeds forced_ids[i] to the model
  // instead of its own choice; generated_ids still reports the choices, so agreement with a
  // reference can be measured step by step without one flip derailing the rest.
  std::vector<TokenId> forced_ids;
};

struct GenerationResult {
  uint64_t id = 0;
  Status status;                       // not ok: this request failed (the others go on)
  std::vector<TokenId> generated_ids;  // the answer only (the eos token kept, as HF does)
  bool stopped_on_eos = false;
  int64_t prompt_tokens = 0;
};

// What the pipeline plans to run at once, for estimate_memory_bytes.
struct MemoryPlan {
  int64_t vision_patches = 0;  // pixel_values rows of the clips encoded together
  int64_t vision_segment_patches = 0;  // their largest frame pair (grid h * w), never split
  int64_t prompt_tokens = 0;   // per sequence (with the expanded video pads)
  int64_t max_new_tokens = 200;
  int64_t batch = 1;  // sequences decoded together
};

// Sizes of the chunks the forward passes run in (activation memory scales with these).
struct ChunkOptions {
  int64_t vision_rows = 8192;   // patches per vision chunk (whole frame pairs, at least one)
  int64_t prefill_rows = 1024;  // prompt tokens per prefill chunk

  // For a device with its own memory and a hundred-odd multiprocessors (a GPU): prompts of the
  // default clip in one prefill chunk. At 1024 rows the decoder's narrow products (o_proj and
  // down: N = hidden size) make 48 output tiles of 128x256 for 132 SMs, and the attention of a
  // chunk under 200 thread blocks; the activations of 8192 rows are ~1 GB, small beside a GPU.
  static ChunkOptions for_gpu() { return {8192, 8192}; }
};

class Qwen2VL {
 public:
  // Loads <dir>/config.json and the checkpoint in <dir>. Errors name the file or tensor.
  static Result<Qwen2VL> load(const std::filesystem::path& dir, tensor::Backend& backend,
                              tensor::Precision precision);
  // Loads from an open checkpoint with known dimensions (tests, benchmarks).
  static Result<Qwen2VL> load(const io::SafetensorsCheckpoint& checkpoint, const ModelDims& dims,
                              tensor::Backend& backend, tensor::Precision precision);

  Qwen2VL(Qwen2VL&&) noexcept = default;
  Qwen2VL& operator=(Qwen2VL&&) noexcept = default;

  // Vision features [Σ tokens, hidden] on the device (spec §8) for one or several videos,
  // their pixel_values in parts (VisionEncoder::forward) or in one f32 span.
  Result<tensor::Tensor> encode_video(std::span<const tensor::HostMatrix> pixel_parts,
                                      std::span<const VisionGrid> grids) const;
  Result<tensor::Tensor> encode_video(std::span<const float> pixel_values,
                                      std::span<const VisionGrid> grids) const;

  // The same, downloaded to the host (row-major).
  Result<std::vector<float>> vision_features(std::span<const float> pixel_values,
                                             std::span<const VisionGrid> grids) const;

  // Logits [vocab] at the last prompt position (spec §11.2) for `input_ids` whose video pads
  // take the rows of `features` [Σ tokens, hidden] (host) in order.
  Result<std::vector<float>> prefill_last_logits(std::span<const TokenId> input_ids,
                                                 std::span<const VisionGrid> grids,
                                                 std::span<const float> features) const;

  // Generates the answer of one request (spec §12). `times`, when given, gets the stage times
  // added. Errors of the request come back as the Result's status.
  Result<GenerationResult> generate(GenerationRequest request, StageTimes* times = nullptr) const;

  // The device bytes the weights of the checkpoint in `dir` take at `precision` (every tensor
  // in weight_dtype(precision)), from the file headers alone: to refuse a model that cannot fit
  // before loading it. Errors: those of io::SafetensorsCheckpoint::open.
  static Result<uint64_t> weight_bytes_needed(const std::filesystem::path& dir,
                                              tensor::Precision precision);

  // Upper estimate of the device bytes needed for `plan`: weights + KV caches + features +
  // activations of one vision chunk and one prefill chunk + logits.
  int64_t estimate_memory_bytes(const MemoryPlan& plan) const;

  const ModelDims& dims() const { return dims_; }
  const VisionEncoder& vision() const { return vision_; }
  const LanguageModel& language() const { return language_; }
  tensor::Backend& backend() const { return *backend_; }
  tensor::Precision precision() const { return precision_; }
  // The KV cache keeps K and V in the weights' dtype (kv_cache.h).
  tensor::DType kv_cache_dtype() const { return tensor::weight_dtype(precision_); }
  // The dtype to prepare pixel_values in: that of the vision tower's first matmul input.
  tensor::HostDType pixel_dtype() const;
  // Host bytes of the pixel_values of `patches` rows, in pixel_dtype().
  int64_t pixel_values_bytes(int64_t patches) const;
  const ChunkOptions& chunks() const { return chunks_; }
  void set_chunks(const ChunkOptions& chunks) { chunks_ = chunks; }
  // Device bytes of all weights.
  int64_t weight_bytes() const { return weight_bytes_; }

 private:
  Qwen2VL() = default;

  ModelDims dims_;
  tensor::Backend* backend_ = nullptr;
  tensor::Precision precision_ = tensor::Precision::kF32;
  ChunkOptions chunks_;
  VisionEncoder vision_;
  LanguageModel language_;
  int64_t weight_bytes_ = 0;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_QWEN2VL_H_
