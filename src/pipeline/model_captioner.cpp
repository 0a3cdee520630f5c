#include "pipeline/model_captioner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/stopwatch.h"
#include "hub/hub_options.h"
#include "hub/model_resolver.h"
#include "hub/progress_printer.h"
#include "media/clip.h"
#include "model/config.h"
#include "model/generation.h"
#include "model/generator.h"
#include "model/processor.h"
#include "model/qwen2vl.h"
#include "pipeline/decode_share.h"
#include "pipeline/journal.h"
#include "pipeline/memory_budget.h"
#include "tensor/cpu/backend_factory.h"
#include "text/chat_template.h"
#include "text/folder_template.h"
#include "text/tokenizer.h"

namespace vcap::pipeline {
namespace {

ClipStatus status_of(media::ClipErrorKind kind) {
  using media::ClipErrorKind;
  switch (kind) {
    case ClipErrorKind::kNotFound:
      return ClipStatus::kNotFound;
    case ClipErrorKind::kIsDirectory:
      return ClipStatus::kIsDirectory;
    case ClipErrorKind::kEmptyFile:
      return ClipStatus::kEmptyFile;
    case ClipErrorKind::kIoError:
      return ClipStatus::kIoError;
    case ClipErrorKind::kNotMedia:
      return ClipStatus::kNotMedia;
    case ClipErrorKind::kNoVideoStream:
      return ClipStatus::kNoVideo;
    case ClipErrorKind::kUnsupportedCodec:
      return ClipStatus::kUnsupported;
    case ClipErrorKind::kTruncated:
      return ClipStatus::kTruncated;
    case ClipErrorKind::kDecodeError:
      return ClipStatus::kDecodeError;
    case ClipErrorKind::kTooFewFrames:
      return ClipStatus::kTooFewFrames;
    case ClipErrorKind::kBadAspectRatio:
      return ClipStatus::kBadAspectRatio;
    case ClipErrorKind::kTimeout:
      return ClipStatus::kTimeout;
    case ClipErrorKind::kInvalidOptions:
      return ClipStatus::kInternal;
  }
  return ClipStatus::kInternal;
}

ClipOutcome outcome_of(const media::ClipError& error) {
  return ClipOutcome::failure(status_of(error.kind()), one_line(error.message()));
}

ClipOutcome outcome_of(const Status& status) {
  const ClipStatus kind = status.code() == StatusCode::kOutOfMemory ? ClipStatus::kOom
                          : status.code() == StatusCode::kTimeout   ? ClipStatus::kTimeout
                                                                    : ClipStatus::kInternal;
  return ClipOutcome::failure(kind, one_line(status.message()));
}

std::string file_crc(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "absent";
  std::ostringstream bytes;
  bytes << in.rdbuf();
  char text[16];
  std::snprintf(text, sizeof(text), "%08x", crc32(bytes.str()));
  return text;
}

struct PreparedRequest : PreparedClip {
  model::GenerationRequest request;

  uint64_t host_bytes() const override {
    const model::PixelValues& pixels = request.pixel_values;
    return pixels.values.size() * sizeof(float) + pixels.bf16_values.size() * sizeof(uint16_t) +
           request.input_ids.size() * sizeof(request.input_ids[0]);
  }
};

media::DecodeOptions decode_options(const CaptionOptions& options, const ClipSettings& settings) {
  media::DecodeOptions decode;
  decode.fps = settings.fps;
  decode.max_pixels = settings.max_pixels;
  if (settings.exact_height > 0) {
    decode.resize_mode = media::ResizeMode::kExact;
    decode.exact_height = settings.exact_height;
    decode.exact_width = settings.exact_width;
  }
  decode.autorotate = options.autorotate;
  decode.threads = settings.threads_per_clip;
  decode.deadline_sec = options.decode_timeout_sec > 0 ? options.decode_timeout_sec : 1e9;
  return decode;
}

media::PatchGeometry geometry(const model::ModelConfig& config) {
  return {config.preprocessor.patch_size, config.preprocessor.temporal_patch_size,
          config.preprocessor.merge_size};
}

}  // namespace

int model_threads(const CaptionOptions& options) {
  if (options.threads > 0) return options.threads;
  return core_share(host_cpus(), local_processes(process_environment()));
}

Status check_weights_fit(uint64_t weight_bytes, uint64_t available_bytes,
                         const std::string& device) {
  if (weight_bytes <= available_bytes) return Status();
  const std::string where =
      device == "cpu" ? "this machine has " + format_bytes(available_bytes) + " of free memory"
                      : device + " has " + format_bytes(available_bytes) + " free";
  return Status::unsupported(
      "the model's weights take " + format_bytes(weight_bytes) + " and " + where +
      ": vcap holds the whole model on one device. Use one with more "
      "memory, or a smaller model (in bf16 Qwen2-VL-7B takes 15.4 GiB, 2B 4.1 GiB)");
}

ModelCaptioner::ModelCaptioner(const CaptionOptions& options,
                               std::unique_ptr<tensor::Backend> backend, model::Qwen2VL model,
                               model::ModelConfig config, text::Tokenizer tokenizer,
                               model::SamplingOptions sampling, const std::string& system_prompt)
    : options_(options),
      backend_(std::move(backend)),
      model_(std::make_unique<model::Qwen2VL>(std::move(model))),
      config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      sampling_(std::move(sampling)),
      generator_(*model_, model::GeneratorOptions{batch_size(options)}),
      prompt_ids_(tokenizer_.encode(text::render_video_prompt(options_.question, system_prompt))),
      video_pad_id_(tokenizer_.token_to_id("<|video_pad|>").value_or(text::kQwen2VlVideoPadId)) {}

ClipValue<ClipCost> ModelCaptioner::plan(const ClipJob& job, const ClipSettings& settings) {
  media::ClipResult<media::ClipPlan> plan =
      media::estimate_plan(job.file.string(), decode_options(options_, settings));
  if (!plan) return {outcome_of(plan.error()), {}};
  // transformers' processor resizes frames outside its bounds a second time, which vcap does not
  // (tiny --height x --width: a wide clip's sides floor far under the cap).
  const int64_t area = plan->resized_height * plan->resized_width;
  const model::PreprocessorConfig& bounds = config_.preprocessor;
  if (bounds.do_resize && (area < bounds.min_pixels || area > bounds.max_pixels)) {
    return {ClipOutcome::failure(
                ClipStatus::kUnsupported,
                "frames of " + std::to_string(plan->resized_height) + "x" +
                    std::to_string(plan->resized_width) + " are outside the model's " +
                    std::to_string(bounds.min_pixels) + ".." + std::to_string(bounds.max_pixels) +
                    " pixels (preprocessor_config.json): transformers' processor would resize them "
                    "a second time, which vcap does not; " +
                    (area < bounds.min_pixels ? "raise" : "lower") + " --height and --width"),
            {}};
  }
  const media::VisualGrid grid = media::visual_grid(*plan, geometry(config_));
  model::MemoryPlan memory;
  memory.vision_patches = grid.patches;
  memory.vision_segment_patches = grid.grid_h * grid.grid_w;
  memory.prompt_tokens = static_cast<int64_t>(prompt_ids_.size()) + grid.visual_tokens - 1;
  memory.max_new_tokens = options_.max_new_tokens;
  const int64_t total = model_->estimate_memory_bytes(memory);
  ClipCost cost{plan->nframes, grid.visual_tokens,
                static_cast<uint64_t>(std::max<int64_t>(0, total - model_->weight_bytes()))};
  // media::Clip::frames (uint8 RGB) live until the pixel values are made from them.
  const int64_t frame_bytes = plan->nframes * 3 * plan->resized_height * plan->resized_width;
  cost.prepare_bytes =
      static_cast<uint64_t>(frame_bytes + model_->pixel_values_bytes(grid.patches));
  return {ClipOutcome{}, cost};
}

ClipValue<std::unique_ptr<PreparedClip>> ModelCaptioner::prepare(const ClipJob& job,
                                                                 const ClipSettings& settings) {
  auto start = std::chrono::steady_clock::now();
  media::ClipResult<media::Clip> clip =
      media::load_clip(job.file.string(), decode_options(options_, settings));
  const double decode_s = seconds_since(start);
  start = std::chrono::steady_clock::now();
  ClipValue<std::unique_ptr<PreparedClip>> prepared{ClipOutcome{}, nullptr};
  if (clip) {
    prepared = request_for(*clip);
  } else {
    prepared.outcome = outcome_of(clip.error());
  }
  const double preprocess_s = seconds_since(start);
  const std::lock_guard lock(times_mutex_);
  decode_s_ += decode_s;
  preprocess_s_ += preprocess_s;
  return prepared;
}

ClipValue<std::unique_ptr<PreparedClip>> ModelCaptioner::request_for(
    const media::Clip& clip) const {
  const media::ClipPlan& plan = clip.plan;
  model::VideoFramesView view{clip.frames.data(), plan.nframes, plan.resized_height,
                              plan.resized_width};
  Result<model::PixelValues> pixels =
      model::preprocess_video(view, config_.preprocessor, model_->pixel_dtype());
  if (!pixels) return {outcome_of(pixels.status()), nullptr};
  const model::VisionGrid grid{pixels->grid_thw[0], pixels->grid_thw[1], pixels->grid_thw[2]};
  const int64_t merge = config_.preprocessor.merge_size;
  Result<std::vector<int32_t>> ids =
      text::expand_video_pads(prompt_ids_, video_pad_id_, grid.num_patches() / (merge * merge));
  if (!ids) return {outcome_of(ids.status()), nullptr};
  auto prepared = std::make_unique<PreparedRequest>();
  prepared->request.input_ids = std::move(*ids);
  prepared->request.video_grids = {grid};
  prepared->request.pixel_values = std::move(*pixels);
  prepared->request.sampling = sampling_;
  return {ClipOutcome{}, std::move(prepared)};
}

void ModelCaptioner::add(uint64_t row_index, std::unique_ptr<PreparedClip> clip) {
  auto* prepared = dynamic_cast<PreparedRequest*>(clip.get());
  VCAP_CHECK(prepared != nullptr, "ModelCaptioner::add: a clip of another captioner");
  prepared->request.id = row_index;
  if (Status status = generator_.add(std::move(prepared->request)); !status.ok())
    refused_.push_back({row_index, outcome_of(status), "", 0});
}

Result<std::vector<FinishedCaption>> ModelCaptioner::step() {
  std::vector<FinishedCaption> finished = std::move(refused_);
  refused_.clear();
  if (generator_.idle()) return finished;
  Result<std::vector<model::GenerationResult>> results = generator_.step();
  if (!results) return results.status().with_context("model");
  for (model::GenerationResult& result : *results) {
    FinishedCaption caption;
    caption.row_index = result.id;
    if (!result.status.ok()) {
      caption.outcome = outcome_of(result.status);
    } else {
      caption.text = tokenizer_.decode(result.generated_ids, /*skip_special_tokens=*/true);
      caption.output_tokens = static_cast<int64_t>(result.generated_ids.size());
    }
    finished.push_back(std::move(caption));
  }
  return finished;
}

size_t ModelCaptioner::active() const {
  return generator_.active() + generator_.queued() + refused_.size();
}

uint64_t ModelCaptioner::default_memory_budget_bytes() const {
  // Measured after loading: the converted weights are resident and already taken out of
  // MemAvailable (or of the GPU's free memory, where activations and KV caches live then).
  if (const std::optional<uint64_t> device_free = backend_->device_memory_free())
    return default_budget_bytes(*device_free, 0);
  Result<uint64_t> available = read_host_available_bytes();
  return available ? default_budget_bytes(*available, 0) : 0;
}

CaptionerTimes ModelCaptioner::times() const {
  const std::lock_guard lock(times_mutex_);
  return {decode_s_, preprocess_s_, generator_.times()};
}

model::ChunkOptions chunks_for_device(const std::string& device) {
  return device == "cpu" ? model::ChunkOptions{} : model::ChunkOptions::for_gpu();
}

Result<std::filesystem::path> resolve_model_dir(const std::string& model,
                                                const std::string& revision) {
  hub::HubOptions hub_options = hub::HubOptions::from_environment();
  hub_options.revision = revision;
  hub_options.progress = hub::make_progress_printer(stderr, ::isatty(::fileno(stderr)) != 0);
  Result<std::filesystem::path> dir = hub::resolve_model(model, hub_options);
  if (dir || hub::looks_like_local_path(model)) return dir;
  // The seed's own default, "pretrained_models/Qwen2-VL-7B-Instruct", reads as a hub id too
  // when that folder is missing: the hub's error alone never says a folder was looked for.
  std::error_code error;
  return Status(dir.status().code(), dir.status().message() + " (and no folder " + model + " in " +
                                         std::filesystem::current_path(error).string() +
                                         ": a --model that is no folder is taken for a hub id)");
}

Result<std::filesystem::path> ModelCaptionerFactory::model_dir() {
  if (model_dir_) return *model_dir_;
  Result<std::filesystem::path> dir = resolve_model_dir(options_.model, options_.revision);
  if (!dir) return dir.status();
  model_dir_ = *dir;
  return *dir;
}

Result<text::FolderTemplate> ModelCaptionerFactory::chat_template() {
  if (chat_template_) return *chat_template_;
  Result<std::filesystem::path> dir = model_dir();
  if (!dir) return dir.status();
  Result<text::FolderTemplate> read = text::read_folder_template(*dir);
  if (!read) return read.status();
  chat_template_ = *read;
  return read;
}

Result<std::string> ModelCaptionerFactory::model_identity() {
  Result<std::filesystem::path> dir = model_dir();
  if (!dir) return dir.status();
  nlohmann::json identity;
  for (const char* name :
       {"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"})
    identity[name] = file_crc(*dir / name);
  // Only when it is not the default, so that the official models' fingerprints stay as before.
  Result<text::FolderTemplate> folder_template = chat_template();
  if (!folder_template) return folder_template.status();
  if (folder_template->system_prompt != text::kDefaultSystemPrompt)
    identity["system_prompt"] = folder_template->system_prompt;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(*dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 12 && name.ends_with(".safetensors"))
      identity["weights"][name] =
          static_cast<uint64_t>(std::filesystem::file_size(entry.path(), error));
  }
  if (error) return Status::from_errno("cannot list " + dir->string(), error.value());
  return identity.dump();
}

Result<std::unique_ptr<ClipCaptioner>> ModelCaptionerFactory::create() {
  Result<std::unique_ptr<ModelCaptioner>> captioner = create_model_captioner();
  if (!captioner) return captioner.status();
  return std::unique_ptr<ClipCaptioner>(std::move(*captioner));
}

Result<std::unique_ptr<ModelCaptioner>> ModelCaptionerFactory::create_model_captioner() {
  Result<std::filesystem::path> dir = model_dir();
  if (!dir) return dir.status();
  Result<model::ModelConfig> config = model::load_model_config(*dir);
  if (!config) return config.status();
  if (config->preprocessor.do_resize) {
    if (Status bounds = check_processor_bounds(options_, config->preprocessor.min_pixels,
                                               config->preprocessor.max_pixels);
        !bounds.ok())
      return bounds.with_context("model " + dir->string());
  }
  Result<text::Tokenizer> tokenizer = text::Tokenizer::load(*dir);
  if (!tokenizer) return tokenizer.status();
  Result<text::FolderTemplate> folder_template = chat_template();
  if (!folder_template) return folder_template.status();
  if (!folder_template->understood) {
    std::fprintf(log_,
                 "vcap: warning: the chat template of %s is not the official Qwen2-VL one (nor it "
                 "with another system prompt); vcap renders the official prompt, so captions may "
                 "differ from transformers'\n",
                 folder_template->source.c_str());
  }
  Result<model::SamplingOptions> sampling =
      model::sampling_from_config(config->generation, options_.max_new_tokens);
  if (!sampling) return sampling.status();
  for (const std::string& setting : config->generation.unapplied) {
    std::fprintf(log_,
                 "vcap: warning: %s/generation_config.json sets %s, which vcap does not apply: "
                 "captions may differ from transformers'\n",
                 dir->c_str(), setting.c_str());
  }
  if (config->generation.eos_from_config_json && !ignore_eos_) {
    std::fprintf(log_,
                 "vcap: warning: %s/generation_config.json gives no eos_token_id: vcap stops a "
                 "caption at config.json's eos, where transformers would generate "
                 "--max-new-tokens tokens every time\n",
                 dir->c_str());
  }
  if (ignore_eos_) sampling->eos_ids.clear();
  Result<std::unique_ptr<tensor::Backend>> backend =
      tensor::make_backend({options_.device, model_threads(options_)});
  if (!backend) return backend.status();
  const tensor::Precision precision =
      options_.precision == Precision::kBf16 ? tensor::Precision::kBF16 : tensor::Precision::kF32;
  Result<uint64_t> weight_bytes = model::Qwen2VL::weight_bytes_needed(*dir, precision);
  if (!weight_bytes) return weight_bytes.status();
  std::optional<uint64_t> available = (*backend)->device_memory_free();
  if (!available) {
    if (Result<uint64_t> host = read_host_available_bytes()) available = *host;
  }
  if (available) {
    if (Status fits = check_weights_fit(*weight_bytes, *available, options_.device); !fits.ok())
      return fits.with_context(dir->string());
  }
  Result<model::Qwen2VL> model = model::Qwen2VL::load(*dir, **backend, precision);
  if (!model) return model.status();
  model->set_chunks(chunks_for_device(options_.device));
  return std::make_unique<ModelCaptioner>(options_, std::move(*backend), std::move(*model),
                                          std::move(*config), std::move(*tokenizer),
                                          std::move(*sampling), folder_template->system_prompt);
}

}  // namespace vcap::pipeline
