#include "model/language_model.h"

#include <string>
#include <utility>

namespace vcap::model {

Result<LanguageModel> LanguageModel::load(WeightLoader& loader, const TextDims& dims) {
  LanguageModel lm;
  lm.dims_ = dims;
  auto embed = loader.matrix("model.embed_tokens.weight", dims.vocab_size, dims.hidden_size);
  if (!embed.ok()) return embed.status();
  lm.embed_tokens_ = std::move(embed).value();
  lm.layers_.reserve(static_cast<size_t>(dims.num_layers));
  for (int64_t i = 0; i < dims.num_layers; ++i) {
    auto layer = DecoderLayer::load(loader, dims, i);
    if (!layer.ok()) return layer.status();
    lm.layers_.push_back(std::move(layer).value());
  }
  auto norm = loader.vector("model.norm.weight", dims.hidden_size);
  if (!norm.ok()) return norm.status();
  lm.final_norm_ = std::move(norm).value();
  // spec §3.2: 2B stores no lm_head (tied); use the embedding unless the checkpoint has one.
  if (loader.contains("lm_head.weight")) {
    auto head = loader.matrix("lm_head.weight", dims.vocab_size, dims.hidden_size);
    if (!head.ok()) return head.status();
    lm.lm_head_ = std::move(head).value();
  } else if (!dims.tie_word_embeddings) {
    return Status::not_found(
        "weights: checkpoint has no tensor lm_head.weight and tie_word_embeddings is false");
  }
  return lm;
}

Status LanguageModel::embed(tensor::Backend& backend, std::span<const TokenId> ids,
                            tensor::TensorView out) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= dims_.vocab_size) {
      return Status::invalid_argument(
          "language model: token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
          " is outside the vocabulary of " + std::to_string(dims_.vocab_size));
    }
  }
  backend.gather_rows(out, embed_tokens_, ids);
  return Status();
}

void LanguageModel::forward(tensor::Backend& backend, TextWorkspace& ws, tensor::TensorView hidden,
                            std::span<const SequenceRows> sequences) const {
  for (size_t l = 0; l < layers_.size(); ++l) {
    layers_[l].forward(backend, dims_, ws, static_cast<int64_t>(l), hidden, sequences);
  }
  for (const SequenceRows& seq : sequences) seq.cache->advance(seq.row_count);
}

void LanguageModel::logits(tensor::Backend& backend, tensor::TensorView rows,
                           tensor::TensorView normed, tensor::TensorView out) const {
  // spec §11.2: logits = RMSNorm_final(x) · Wlmᵀ, only for the rows that are sampled.
  backend.rms_norm(normed, rows, final_norm_.view(), dims_.rms_norm_eps);
  backend.matmul(out, normed, lm_head_.empty() ? embed_tokens_ : lm_head_);
}

size_t LanguageModel::weight_bytes() const {
  size_t total = embed_tokens_.size_bytes() + lm_head_.size_bytes() + final_norm_.size_bytes();
  for (const DecoderLayer& l : layers_) {
    total += l.input_norm.size_bytes() + l.qkv.size_bytes() + l.qkv_bias.size_bytes() +
             l.o_proj.size_bytes() + l.post_norm.size_bytes() + l.gate_up.size_bytes() +
             l.down.size_bytes();
  }
  return total;
}

}  // namespace vcap::model
