// The key/value cache of ONE sequence (spec/QWEN2VL.md §11.3): for every decoder layer, K
// (after M-RoPE) and V of every token so far, [capacity, num_kv_heads * head_dim] each, in the
// model's weight dtype: f32, or bf16 as the reference's bf16 model keeps it (which also halves
// the bytes every decode step streams).
//
// The capacity is fixed when the cache is made, from the plan (prompt length + max_new_tokens),
// never a global maximum: memory is exactly what this sequence can use. Move-only; the backend
// that allocated it must outlive it.
#ifndef VCAP_MODEL_KV_CACHE_H_
#define VCAP_MODEL_KV_CACHE_H_

#include <cstdint>

#include "base/status.h"
#include "model/model_dims.h"
#include "tensor/backend.h"

namespace vcap::model {

class KvCache {
 public:
  // Errors: kInvalidArgument for capacity < 1, kOutOfMemory from the backend.
  static Result<KvCache> allocate(tensor::Backend& backend, const TextDims& dims, int64_t capacity,
                                  tensor::DType dtype);

  // Bytes of one cached token over all layers (K and V).
  static int64_t bytes_per_token(const TextDims& dims, tensor::DType dtype) {
    return dims.num_layers * 2 * dims.kv_dim() * static_cast<int64_t>(tensor::dtype_size(dtype));
  }

  // All `capacity` rows of layer `layer`'s keys / values; rows [0, length()) are filled.
  tensor::TensorView keys(int64_t layer) const;
  tensor::TensorView values(int64_t layer) const;

  int64_t capacity() const { return capacity_; }
  tensor::DType dtype() const { return storage_.dtype(); }
  // Tokens cached so far (the same for every layer between forward passes).
  int64_t length() const { return length_; }
  // Called by the language model once every layer has written `count` more tokens.
  // REQUIRES: length() + count <= capacity().
  void advance(int64_t count);

 private:
  tensor::Tensor storage_;  // [num_layers * 2 * capacity, kv_dim]: layer l keys, then values
  int64_t capacity_ = 0;
  int64_t length_ = 0;
};

}  // namespace vcap::model

#endif  // VCAP_MODEL_KV_CACHE_H_
