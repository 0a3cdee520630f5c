// The Qwen2 language model of Qwen2-VL (spec/QWEN2VL.md §9, §11): token embeddings, the decoder
// layers, the final RMSNorm and the lm_head (tied to the embedding when the checkpoint says so
// and has no lm_head.weight).
//
// It knows nothing about prompts or generation: callers hand it rows of hidden states (several
// sequences at once when batching), the rows' M-RoPE table in the workspace and each sequence's
// KV cache; it runs every layer and advances the caches. Logits are computed only for the rows
// asked for.
#ifndef VCAP_MODEL_LANGUAGE_MODEL_H_
#define VCAP_MODEL_LANGUAGE_MODEL_H_

#include <span>
#include <vector>

#include "base/status.h"
#include "model/decoder_layer.h"
#include "model/kv_cache.h"
#include "model/model_dims.h"
#include "model/rope_index.h"
#include "model/weights.h"
#include "tensor/backend.h"

namespace vcap::model {

class LanguageModel {
 public:
  // Errors name the missing or misshapen tensor; a missing lm_head.weight is an error unless
  // dims.tie_word_embeddings.
  static Result<LanguageModel> load(WeightLoader& loader, const TextDims& dims);

  // out [ids.size(), hidden] = embed_tokens[ids]. kInvalidArgument for an id outside the
  // vocabulary (the message gives the id and its index).
  Status embed(tensor::Backend& backend, std::span<const TokenId> ids,
               tensor::TensorView out) const;

  // Runs every decoder layer on hidden [n, hidden] in place, then advances each sequence's
  // cache by its row count. ws.cos/ws.sin rows [0, n) must hold the rows' M-RoPE table.
  void forward(tensor::Backend& backend, TextWorkspace& ws, tensor::TensorView hidden,
               std::span<const SequenceRows> sequences) const;

  // out [m, vocab] = lm_head(RMSNorm_final(rows)) for hidden rows `rows` [m, hidden];
  // `normed` [m, hidden] is scratch.
  void logits(tensor::Backend& backend, tensor::TensorView rows, tensor::TensorView normed,
              tensor::TensorView out) const;

  const TextDims& dims() const { return dims_; }
  // Device bytes of all prepared weights (the tied head counted once).
  size_t weight_bytes() const;

 private:
  TextDims dims_;
  tensor::Weight embed_tokens_;  // [vocab, hidden]
  std::vector<DecoderLayer> layers_;
  tensor::Tensor final_norm_;  // [1, hidden]
  tensor::Weight lm_head_;     // [vocab, hidden]; empty when tied to embed_tokens_
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_LANGUAGE_MODEL_H_
