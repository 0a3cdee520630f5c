#include "pipeline/inspect.h"

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "io/npy.h"
#include "media/clip.h"
#include "model/config.h"
#include "model/generation.h"
#include "model/processor.h"
#include "model/qwen2vl.h"
#include "model/rope_index.h"
#include "pipeline/model_captioner.h"
#include "tensor/cpu/backend_factory.h"
#include "text/chat_template.h"
#include "text/folder_template.h"
#include "text/tokenizer.h"

namespace vcap::pipeline {
namespace {

namespace fs = std::filesystem;

// The video stages' results: the model inputs and the grid they come with.
struct VisionInput {
  std::vector<float> pixel_values;  // [patches, patch_features]
  model::VisionGrid grid;
};

Status write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::io_error("cannot write " + path.string());
  return Status();
}

Status write_grid(const fs::path& dir, const model::VisionGrid& grid) {
  const std::vector<int64_t> values = {grid.t, grid.h, grid.w};
  const std::vector<int64_t> shape = {1, 3};
  return io::write_npy<int64_t>(dir / "grid_thw.npy", shape, values);
}

// video_info.json with the golden keys.
Status write_video_info(const fs::path& dir, const media::ClipPlan& plan,
                        const media::DecodeOptions& decode) {
  nlohmann::ordered_json info;
  info["total_frames"] = plan.total_frames;
  info["video_fps"] = plan.video_fps;
  info["nframes"] = plan.nframes;
  info["frame_indices"] = plan.frame_indices;
  info["orig_hw"] = {plan.orig_height, plan.orig_width};
  info["min_pixels"] = decode.min_pixels;
  info["max_pixels"] = decode.max_pixels;
  info["resized_hw"] = {plan.resized_height, plan.resized_width};
  info["rotation"] = plan.rotation;
  return write_text(dir / "video_info.json", info.dump(1) + "\n");
}

Result<VisionInput> vision_input_from_video(const InspectOptions& options,
                                            const model::PreprocessorConfig& preprocessor) {
  media::DecodeOptions decode;
  decode.fps = options.fps;
  decode.max_pixels = options.height * options.width;
  decode.autorotate = options.autorotate;
  if (options.exact_size) {
    decode.resize_mode = media::ResizeMode::kExact;
    decode.exact_height = options.height;
    decode.exact_width = options.width;
  }
  media::ClipResult<media::Clip> clip = media::load_clip(options.video, decode);
  if (!clip) return clip.status();
  const media::ClipPlan& plan = clip->plan;
  if (Status s = write_video_info(options.out_dir, plan, decode); !s.ok()) return s;
  const std::vector<int64_t> frames_shape = {plan.nframes, 3, plan.resized_height,
                                             plan.resized_width};
  if (Status s = io::write_npy<uint8_t>(options.out_dir / "frames_resized_u8.npy", frames_shape,
                                        clip->frames);
      !s.ok())
    return s;
  model::VideoFramesView view{clip->frames.data(), plan.nframes, plan.resized_height,
                              plan.resized_width};
  Result<model::PixelValues> pixels = model::preprocess_video(view, preprocessor);
  if (!pixels) return pixels.status().with_context("processor");
  const std::vector<int64_t> shape = {pixels->rows, pixels->cols};
  if (Status s = io::write_npy<float>(options.out_dir / "pixel_values.npy", shape, pixels->values);
      !s.ok())
    return s;
  return VisionInput{std::move(pixels->values),
                     {pixels->grid_thw[0], pixels->grid_thw[1], pixels->grid_thw[2]}};
}

Result<VisionInput> vision_input_from_file(const InspectOptions& options, int64_t patch_features) {
  const auto& [t, h, w] = options.grid_thw;
  if (t <= 0 || h <= 0 || w <= 0)
    return Status::invalid_argument("--pixel-values needs --grid T,H,W (positive)");
  Result<io::NpyArray> array = io::read_npy(options.pixel_values_file);
  if (!array) return array.status();
  const std::string name = options.pixel_values_file.string();
  if (!array->holds<float>() || array->shape.size() != 2 || array->shape[0] != t * h * w ||
      array->shape[1] != patch_features)
    return Status::invalid_argument(name + ": expected float32 [" + std::to_string(t * h * w) +
                                    ", " + std::to_string(patch_features) + "] for grid " +
                                    std::to_string(t) + "," + std::to_string(h) + "," +
                                    std::to_string(w));
  std::span<const float> values = array->as<float>();
  return VisionInput{{values.begin(), values.end()}, {t, h, w}};
}

Result<std::vector<int32_t>> prompt_ids(const InspectOptions& options, const fs::path& model_dir,
                                        const text::Tokenizer& tokenizer,
                                        const model::ModelConfig& config,
                                        const model::VisionGrid& grid) {
  if (!options.input_ids_file.empty()) {
    Result<io::NpyArray> array = io::read_npy(options.input_ids_file);
    if (!array) return array.status();
    if (!array->holds<int64_t>() || array->shape.size() != 1)
      return Status::invalid_argument(options.input_ids_file.string() +
                                      ": expected int64 [L] token ids");
    std::vector<int32_t> ids;
    for (int64_t id : array->as<int64_t>()) {
      if (id < 0 || id >= config.text.vocab_size)
        return Status::invalid_argument(options.input_ids_file.string() + ": token id " +
                                        std::to_string(id) + " outside the vocabulary");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  Result<text::FolderTemplate> chat_template = text::read_folder_template(model_dir);
  if (!chat_template) return chat_template.status();
  const std::string prompt =
      text::render_video_prompt(options.question, chat_template->system_prompt);
  if (Status s = write_text(options.out_dir / "prompt.txt", prompt); !s.ok()) return s;
  const int64_t merge = config.preprocessor.merge_size;
  return text::expand_video_pads(tokenizer.encode(prompt), config.text.tokens.video,
                                 grid.num_tokens(merge));
}

Status write_prompt_stage(const fs::path& dir, std::span<const int32_t> ids,
                          const model::RopeIndex& rope) {
  const std::vector<int64_t> wide(ids.begin(), ids.end());
  const std::vector<int64_t> ids_shape = {static_cast<int64_t>(ids.size())};
  if (Status s = io::write_npy<int64_t>(dir / "input_ids.npy", ids_shape, wide); !s.ok()) return s;
  const std::vector<int64_t> positions_shape = {3, rope.length};
  return io::write_npy<int64_t>(dir / "position_ids.npy", positions_shape, rope.positions);
}

Status run_model_stages(const InspectOptions& options, const fs::path& model_dir,
                        const model::ModelConfig& config, const text::Tokenizer& tokenizer,
                        VisionInput vision, std::vector<int32_t> ids) {
  Result<std::unique_ptr<tensor::Backend>> backend =
      tensor::make_backend({options.device, options.threads});
  if (!backend) return backend.status();
  const tensor::Precision precision =
      options.precision == Precision::kBf16 ? tensor::Precision::kBF16 : tensor::Precision::kF32;
  Result<model::Qwen2VL> qwen = model::Qwen2VL::load(model_dir, **backend, precision);
  if (!qwen) return qwen.status();
  const std::vector<model::VisionGrid> grids = {vision.grid};
  Result<std::vector<float>> features = qwen->vision_features(vision.pixel_values, grids);
  if (!features) return features.status().with_context("vision");
  const int64_t hidden = config.text.hidden_size;
  const std::vector<int64_t> features_shape = {static_cast<int64_t>(features->size()) / hidden,
                                               hidden};
  const fs::path& dir = options.out_dir;
  if (Status s = io::write_npy<float>(dir / "vision_features.npy", features_shape, *features);
      !s.ok())
    return s;
  Result<std::vector<float>> logits = qwen->prefill_last_logits(ids, grids, *features);
  if (!logits) return logits.status().with_context("prefill");
  const std::vector<int64_t> logits_shape = {static_cast<int64_t>(logits->size())};
  if (Status s = io::write_npy<float>(dir / "prefill_last_logits.npy", logits_shape, *logits);
      !s.ok())
    return s;
  Result<model::SamplingOptions> sampling =
      model::sampling_from_config(config.generation, options.max_new_tokens);
  if (!sampling) return sampling.status();
  model::GenerationRequest request;
  request.input_ids = std::move(ids);
  request.video_grids = grids;
  request.vision_features = std::move(*features);
  request.sampling = *sampling;
  Result<model::GenerationResult> result = qwen->generate(std::move(request));
  if (!result) return result.status().with_context("generate");
  if (Status s = write_text(dir / "generated_ids.json",
                            nlohmann::json(result->generated_ids).dump() + "\n");
      !s.ok())
    return s;
  return write_text(dir / "text.txt",
                    tokenizer.decode(result->generated_ids, /*skip_special_tokens=*/true));
}

}  // namespace

Status run_inspect(const InspectOptions& options) {
  if (options.video.empty() == options.pixel_values_file.empty())
    return Status::invalid_argument("give either a video or --pixel-values (not both)");
  std::error_code error;
  fs::create_directories(options.out_dir, error);
  if (error) return Status::from_errno("cannot create " + options.out_dir.string(), error.value());

  Result<fs::path> model_dir = resolve_model_dir(options.model, options.revision);
  if (!model_dir) return model_dir.status();
  Result<model::ModelConfig> config = model::load_model_config(*model_dir);
  if (!config) return config.status();
  Result<text::Tokenizer> tokenizer = text::Tokenizer::load(*model_dir);
  if (!tokenizer) return tokenizer.status();

  const model::PreprocessorConfig& pre = config->preprocessor;
  const int64_t patch_features =
      int64_t{3} * pre.temporal_patch_size * pre.patch_size * pre.patch_size;
  Result<VisionInput> vision = options.video.empty()
                                   ? vision_input_from_file(options, patch_features)
                                   : vision_input_from_video(options, pre);
  if (!vision) return vision.status();
  if (Status s = write_grid(options.out_dir, vision->grid); !s.ok()) return s;

  Result<std::vector<int32_t>> ids =
      prompt_ids(options, *model_dir, *tokenizer, *config, vision->grid);
  if (!ids) return ids.status().with_context("prompt");
  const model::TokenIds& tokens = config->text.tokens;
  const std::vector<model::VisionGrid> grids = {vision->grid};
  Result<model::RopeIndex> rope = model::get_rope_index(
      *ids, {}, grids, pre.merge_size, {tokens.vision_start, tokens.image, tokens.video});
  if (!rope) return rope.status().with_context("position ids");
  if (Status s = write_prompt_stage(options.out_dir, *ids, *rope); !s.ok()) return s;

  if (!options.run_model) return Status();
  return run_model_stages(options, *model_dir, *config, *tokenizer, std::move(*vision),
                          std::move(*ids));
}

}  // namespace vcap::pipeline
