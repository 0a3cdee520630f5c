#include "model/qwen2vl.h"

#include <algorithm>
#include <utility>

#include "model/generator.h"

namespace vcap::model {

StageTimes& StageTimes::operator+=(const StageTimes& other) {
  vision_s += other.vision_s;
  prefill_s += other.prefill_s;
  decode_s += other.decode_s;
  vision_patches += other.vision_patches;
  prompt_tokens += other.prompt_tokens;
  generated_tokens += other.generated_tokens;
  tokens_chosen_on_host += other.tokens_chosen_on_host;
  decode_steps += other.decode_steps;
  single_decode_steps += other.single_decode_steps;
  single_decode_s += other.single_decode_s;
  decode_issue_s += other.decode_issue_s;
  decode_select_s += other.decode_select_s;
  return *this;
}

Result<Qwen2VL> Qwen2VL::load(const std::filesystem::path& dir, tensor::Backend& backend,
                              tensor::Precision precision) {
  auto config = load_model_config(dir);
  if (!config.ok()) return config.status();
  auto dims = dims_from_config(*config);
  if (!dims.ok()) return dims.status().with_context(dir.string());
  auto checkpoint = io::SafetensorsCheckpoint::open(dir);
  if (!checkpoint.ok()) return checkpoint.status();
  if (Status s = validate_against_checkpoint(*config, *checkpoint); !s.ok()) return s;
  // The Weights are copies in the backend's layout: the mapping can close after loading.
  return load(*checkpoint, *dims, backend, precision);
}

Result<uint64_t> Qwen2VL::weight_bytes_needed(const std::filesystem::path& dir,
                                              tensor::Precision precision) {
  auto checkpoint = io::SafetensorsCheckpoint::open(dir);
  if (!checkpoint.ok()) return checkpoint.status();
  uint64_t elements = 0;
  for (const io::TensorEntry& entry : checkpoint->tensors())
    elements += static_cast<uint64_t>(entry.num_elements());
  return elements * tensor::dtype_size(tensor::weight_dtype(precision));
}

Result<Qwen2VL> Qwen2VL::load(const io::SafetensorsCheckpoint& checkpoint, const ModelDims& dims,
                              tensor::Backend& backend, tensor::Precision precision) {
  if (Status s = validate_dims(dims); !s.ok()) return s;
  // Attention the backend cannot run (a GPU's limits) refuses the model now, not every clip.
  const tensor::DType weights = tensor::weight_dtype(precision);
  for (const tensor::AttentionParams& params :
       {vision_attention_params(dims.vision, weights), text_attention_params(dims.text, weights)}) {
    if (Status s = backend.check_attention(params); !s.ok()) return s;
  }
  WeightLoader loader(checkpoint, backend, precision);
  Qwen2VL model;
  model.dims_ = dims;
  model.backend_ = &backend;
  model.precision_ = precision;
  auto vision = VisionEncoder::load(loader, dims.vision);
  if (!vision.ok()) return vision.status();
  model.vision_ = std::move(vision).value();
  auto language = LanguageModel::load(loader, dims.text);
  if (!language.ok()) return language.status();
  model.language_ = std::move(language).value();
  model.weight_bytes_ =
      static_cast<int64_t>(model.vision_.weight_bytes() + model.language_.weight_bytes());
  return model;
}

Result<tensor::Tensor> Qwen2VL::encode_video(std::span<const tensor::HostMatrix> pixel_parts,
                                             std::span<const VisionGrid> grids) const {
  return vision_.forward(*backend_, pixel_parts, grids, chunks_.vision_rows);
}

Result<tensor::Tensor> Qwen2VL::encode_video(std::span<const float> pixel_values,
                                             std::span<const VisionGrid> grids) const {
  const int64_t cols = dims_.vision.patch_features();
  const tensor::HostMatrix whole[] = {{pixel_values.data(), tensor::HostDType::kF32,
                                       static_cast<int64_t>(pixel_values.size()) / cols, cols}};
  if (static_cast<int64_t>(pixel_values.size()) % cols != 0) {
    return Status::invalid_argument("vision: " + std::to_string(pixel_values.size()) +
                                    " pixel values are not whole rows of " + std::to_string(cols));
  }
  return encode_video(whole, grids);
}

tensor::HostDType Qwen2VL::pixel_dtype() const {
  return tensor::weight_dtype(precision_) == tensor::DType::kBF16 ? tensor::HostDType::kBF16
                                                                  : tensor::HostDType::kF32;
}

int64_t Qwen2VL::pixel_values_bytes(int64_t patches) const {
  return patches * dims_.vision.patch_features() *
         static_cast<int64_t>(tensor::host_dtype_size(pixel_dtype()));
}

Result<std::vector<float>> Qwen2VL::vision_features(std::span<const float> pixel_values,
                                                    std::span<const VisionGrid> grids) const {
  auto features = encode_video(pixel_values, grids);
  if (!features.ok()) return features.status();
  std::vector<float> host(static_cast<size_t>(features->rows() * features->cols()));
  backend_->download(features->view(), host);
  if (Status s = backend_->synchronize(); !s.ok()) return s;
  return host;
}

Result<std::vector<float>> Qwen2VL::prefill_last_logits(std::span<const TokenId> input_ids,
                                                        std::span<const VisionGrid> grids,
                                                        std::span<const float> features) const {
  GenerationRequest request;
  request.input_ids.assign(input_ids.begin(), input_ids.end());
  request.video_grids.assign(grids.begin(), grids.end());
  request.vision_features.assign(features.begin(), features.end());
  request.sampling.max_new_tokens = 1;
  Generator generator(*this, {1});
  return generator.prefill_logits(std::move(request));
}

Result<GenerationResult> Qwen2VL::generate(GenerationRequest request, StageTimes* times) const {
  Generator generator(*this, {1});
  if (Status s = generator.add(std::move(request)); !s.ok()) return s;
  std::vector<GenerationResult> results;
  while (!generator.idle()) {
    auto finished = generator.step();
    if (!finished.ok()) return finished.status();
    for (auto& r : *finished) results.push_back(std::move(r));
  }
  if (times != nullptr) *times += generator.times();
  VCAP_CHECK(results.size() == 1, "generate: one request gives one result");
  if (!results[0].status.ok()) return results[0].status;
  return std::move(results[0]);
}

int64_t Qwen2VL::estimate_memory_bytes(const MemoryPlan& plan) const {
  const VisionDims& v = dims_.vision;
  const TextDims& t = dims_.text;
  constexpr int64_t kF32 = 4;
  const tensor::DType weights = tensor::weight_dtype(precision_);
  const int64_t groups = v.merge_size * v.merge_size;
  // Vision: one chunk of whole frame pairs (the workspace; a frame pair over the chunk size is
  // a chunk of its own, VisionEncoder::forward), the features of every clip.
  const int64_t vision_rows =
      std::min(plan.vision_patches, std::max(plan.vision_segment_patches, chunks_.vision_rows));
  const int64_t vision_ws = VisionWorkspace::bytes(v, vision_rows, weights);
  const int64_t features = plan.vision_patches / groups * t.hidden_size * kF32;
  // Text: one prefill chunk (or the decode batch) with its hidden rows, KV caches, logits.
  const int64_t text_rows =
      std::max(std::min(plan.prompt_tokens, chunks_.prefill_rows), plan.batch);
  const int64_t text_ws =
      TextWorkspace::bytes(t, text_rows, weights) + text_rows * t.hidden_size * kF32;
  const int64_t kv =
      plan.batch * (plan.prompt_tokens + plan.max_new_tokens) * KvCache::bytes_per_token(t, kv_cache_dtype());
  const int64_t logits = 2 * plan.batch * t.vocab_size * kF32;  // device + host copy
  // The pixel_values themselves (host) while they are encoded.
  const int64_t pixels = pixel_values_bytes(plan.vision_patches);
  return weight_bytes_ + vision_ws + features + text_ws + kv + logits + pixels;
}

}  // namespace vcap::model
