// ModelCaptioner: the real ClipCaptioner, Qwen2-VL end to end.
//
//   plan:    media::estimate_plan (container demux only) -> frames and visual tokens; the
//            model's estimate_memory_bytes for one sequence, minus the weights, is the cost.
//   prepare: media::load_clip (sampled, resized RGB frames) -> model::preprocess_video
//            (pixel_values, grid) -> the prompt of text::render_video_prompt with its
//            <|video_pad|> expanded to the clip's visual tokens.
//   add/step: model::Generator, the continuous-batching session (max_batch = --bs); the answer
//            ids are decoded with skip_special_tokens (the caption is the answer only,
//            DECISIONS.md #2).
// Media error kinds map one to one onto ClipStatus; a generation that runs out of memory is
// `oom`. Truncated files are refused (status truncated), not captioned in part.
//
// ModelCaptionerFactory resolves --model (hub id or folder, hub/model_resolver.h) once; its
// identity for the run fingerprint is path-independent (so ranks on machines with different
// cache folders agree): CRC-32 of config.json, generation_config.json,
// preprocessor_config.json and tokenizer.json, plus the names and sizes of the weight files.
#ifndef VCAP_PIPELINE_MODEL_CAPTIONER_H_
#define VCAP_PIPELINE_MODEL_CAPTIONER_H_

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/generation.h"
#include "model/generator.h"
#include "model/qwen2vl.h"
#include "pipeline/caption_options.h"
#include "pipeline/captioner.h"
#include "tensor/backend.h"
#include "text/chat_template.h"
#include "text/folder_template.h"
#include "text/tokenizer.h"

namespace vcap::media {
struct Clip;
}  // namespace vcap::media

namespace vcap::pipeline {

// Resolves --model (a folder, or a hub id at `revision`) to a local folder, downloading into the
// Hugging Face cache when needed (hub/model_resolver.h), with a progress bar on a terminal.
Result<std::filesystem::path> resolve_model_dir(const std::string& model,
                                                const std::string& revision);

// The chunk sizes of the model's forward passes on `device` ("cpu", "cuda:N"): the defaults on
// the CPU, model::ChunkOptions::for_gpu() on a GPU.
model::ChunkOptions chunks_for_device(const std::string& device);

// ok when weights of `weight_bytes` fit in the `available_bytes` of `device` ("cpu": the
// machine's free memory); else kUnsupported saying so: vcap holds the whole model on one device,
// and loading one that cannot fit would fail only after minutes (or, on the CPU, bring the
// machine's out-of-memory killer).
Status check_weights_fit(uint64_t weight_bytes, uint64_t available_bytes,
                         const std::string& device);

// The model's compute threads on the CPU: --threads, else this process's share of the cores
// (core_share: its affinity mask, a container's quota, the job's other processes on the machine).
int model_threads(const CaptionOptions& options);

// Seconds per stage, summed over every clip and step so far.
struct CaptionerTimes {
  double decode_s = 0;      // media::load_clip: demux, decode, select, convert, resize
  double preprocess_s = 0;  // pixel_values, grid and prompt ids
  model::StageTimes model;  // the generator's vision, prefill and decode
};

class ModelCaptioner : public ClipCaptioner {
 public:
  ModelCaptioner(const CaptionOptions& options, std::unique_ptr<tensor::Backend> backend,
                 model::Qwen2VL model, model::ModelConfig config, text::Tokenizer tokenizer,
                 model::SamplingOptions sampling, const std::string& system_prompt);

  ClipValue<ClipCost> plan(const ClipJob& job, const ClipSettings& settings) override;
  ClipValue<std::unique_ptr<PreparedClip>> prepare(const ClipJob& job,
                                                   const ClipSettings& settings) override;
  void add(uint64_t row_index, std::unique_ptr<PreparedClip> clip) override;
  Result<std::vector<FinishedCaption>> step() override;
  size_t active() const override;
  uint64_t default_memory_budget_bytes() const override;

  // Thread-safe (prepare() runs on decode threads).
  CaptionerTimes times() const;
  const model::Qwen2VL& model() const { return *model_; }
  // Tokens in the prompt before the video is expanded (template + question).
  int64_t prompt_template_tokens() const { return static_cast<int64_t>(prompt_ids_.size()); }

 private:
  // The model inputs of a decoded clip: pixel_values, grid, prompt ids with expanded pads.
  ClipValue<std::unique_ptr<PreparedClip>> request_for(const media::Clip& clip) const;

  const CaptionOptions options_;
  std::unique_ptr<tensor::Backend> backend_;  // outlives model_ and generator_
  std::unique_ptr<model::Qwen2VL> model_;     // stable address for generator_
  model::ModelConfig config_;
  text::Tokenizer tokenizer_;
  model::SamplingOptions sampling_;
  model::Generator generator_;
  std::vector<int32_t> prompt_ids_;
  int32_t video_pad_id_;
  std::vector<FinishedCaption> refused_;  // add() failures, reported by the next step()
  mutable std::mutex times_mutex_;
  double decode_s_ = 0;
  double preprocess_s_ = 0;
};

class ModelCaptionerFactory : public CaptionerFactory {
 public:
  // Keeps a copy of `options` (model, revision, device, threads, precision, question,
  // max_new_tokens, bs, autorotate, decode timeout).
  explicit ModelCaptionerFactory(CaptionOptions options) : options_(std::move(options)) {}

  Result<std::string> model_identity() override;
  Result<std::unique_ptr<ClipCaptioner>> create() override;
  // The same, typed (for `vcap bench`, which reads its stage times).
  Result<std::unique_ptr<ModelCaptioner>> create_model_captioner();
  // Generate max_new_tokens for every clip, never stopping at an eos token (benchmarks).
  void ignore_eos() { ignore_eos_ = true; }
  // Where warnings about the model folder go (stderr by default).
  void set_log(std::FILE* log) { log_ = log; }

 private:
  Result<std::filesystem::path> model_dir();
  // The folder's chat template, read once: the run's identity and its prompt come from the
  // same read.
  Result<text::FolderTemplate> chat_template();

  std::FILE* log_ = stderr;
  CaptionOptions options_;
  std::optional<std::filesystem::path> model_dir_;
  std::optional<text::FolderTemplate> chat_template_;
  bool ignore_eos_ = false;
};

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_MODEL_CAPTIONER_H_
