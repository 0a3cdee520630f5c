// A CPU backend with buffers of our own, so that every byte allocated and freed is seen: counts
// the bytes of the tensors alive and their peak, and refuses (kOutOfMemory, as a GPU does when
// full) an allocation that would take the live bytes past `limit`.
#ifndef VCAP_TESTS_MODEL_COUNTING_BACKEND_H_
#define VCAP_TESTS_MODEL_COUNTING_BACKEND_H_

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "model/forwarding_backend.h"

namespace vcap::model::testing {

class CountingBackend : public ForwardingBackend {
 public:
  int64_t live = 0;
  int64_t peak = 0;
  int64_t limit = std::numeric_limits<int64_t>::max();
  int64_t refused = 0;

  Result<tensor::Tensor> allocate(tensor::DType dtype, int64_t rows, int64_t cols) override {
    const int64_t bytes = rows * cols * static_cast<int64_t>(tensor::dtype_size(dtype));
    if (bytes > limit - live) {
      ++refused;
      return Status::out_of_memory("counting backend: " + std::to_string(bytes) +
                                   " bytes more would pass the limit");
    }
    return tensor::Tensor(std::make_unique<CountedBuffer>(bytes, *this), dtype, rows, cols);
  }

 private:
  class CountedBuffer : public tensor::Buffer {
   public:
    CountedBuffer(int64_t bytes, CountingBackend& owner)
        : bytes_(bytes),
          memory_(static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 127) / 64 * 64))),
          owner_(owner) {
      owner_.live += bytes_;
      owner_.peak = std::max(owner_.peak, owner_.live);
    }
    ~CountedBuffer() override {
      owner_.live -= bytes_;
      std::free(memory_);
    }
    std::byte* data() const override { return memory_; }
    size_t size_bytes() const override { return static_cast<size_t>(bytes_); }

   private:
    int64_t bytes_;
    std::byte* memory_;
    CountingBackend& owner_;
  };
};

}  // namespace vcap::model::testing

#endif  // VCAP_TESTS_MODEL_COUNTING_BACKEND_H_
