#include "model/kv_cache.h"

#include <string>

namespace vcap::model {

Result<KvCache> KvCache::allocate(tensor::Backend& backend, const TextDims& dims,
                                  int64_t capacity, tensor::DType dtype) {
  if (capacity < 1) {
    return Status::invalid_argument("kv cache: capacity must be >= 1, got " +
                                    std::to_string(capacity));
  }
  auto storage =
      backend.allocate(dtype, dims.num_layers * 2 * capacity, dims.kv_dim());
  if (!storage.ok()) {
    return storage.status().with_context("kv cache of " + std::to_string(capacity) + " tokens");
  }
  KvCache cache;
  cache.storage_ = std::move(storage).value();
  cache.capacity_ = capacity;
  return cache;
}

tensor::TensorView KvCache::keys(int64_t layer) const {
  return storage_.view().rows_slice(2 * layer * capacity_, capacity_);
}

tensor::TensorView KvCache::values(int64_t layer) const {
  return storage_.view().rows_slice((2 * layer + 1) * capacity_, capacity_);
}

void KvCache::advance(int64_t count) {
  VCAP_CHECK(count >= 0 && length_ + count <= capacity_, "kv cache: advance past capacity");
  length_ += count;
}

}  // namespace vcap::model
