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

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "pipeline/caption_options.h"
#include "pipeline/captioner.h"

namespace vcap::pipeline {

// Resolves --model (a folder, or a hub id at `revision`) to a local folder, downloading into the
// Hugging Face cache when needed (hub/model_resolver.h), with a progress bar on a terminal.
Result<std::filesystem::path> resolve_model_dir(const std::string& model,
                                                const std::string& revision);

class ModelCaptionerFactory : public CaptionerFactory {
 public:
  // Keeps a copy of `options` (model, revision, device, threads, precision, question,
  // max_new_tokens, bs, autorotate, decode timeout).
  explicit ModelCaptionerFactory(CaptionOptions options) : options_(std::move(options)) {}

  Result<std::string> model_identity() override;
  Result<std::unique_ptr<ClipCaptioner>> create() override;

 private:
  Result<std::filesystem::path> model_dir();

  CaptionOptions options_;
  std::optional<std::filesystem::path> model_dir_;
};

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_MODEL_CAPTIONER_H_
