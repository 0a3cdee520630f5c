// Matrix multiplication on the CPU through oneDNN, and the CPU layout of prepared weights.
//
// A CpuWeight keeps W [out_features, in_features] row-major, in f32 or bf16. oneDNN reads it as
// its [K, N] weights tensor with strides {1, K} (format "ba"), so the same bytes serve matmul
// and the embedding lookup (gather_rows) of a tied embedding / lm_head without a second copy.
//
// GemmEngine owns the oneDNN engine and stream and a cache of matmul primitives keyed by shape,
// strides and mode: creating a primitive costs far more than running a small one, and the model
// uses few distinct shapes. Not thread-safe (one Backend, one caller thread).
#ifndef VCAP_TENSOR_CPU_GEMM_H_
#define VCAP_TENSOR_CPU_GEMM_H_

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include <dnnl.hpp>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

class CpuWeight : public WeightStorage {
 public:
  CpuWeight(AlignedBytes data, size_t size_bytes) : data_(std::move(data)), size_(size_bytes) {}
  size_t size_bytes() const override { return size_; }
  std::byte* data() const { return data_.get(); }

 private:
  AlignedBytes data_;
  size_t size_;
};

// The CpuWeight of a Weight; aborts if the Weight came from another backend.
const CpuWeight& cpu_weight(const Weight& w);

class GemmEngine {
 public:
  GemmEngine();

  // out = in * W^T (+ bias) (+ out), see Backend::matmul. `in_bf16` is scratch for the bf16
  // path: at least rows * in_features bf16 values (ignored for f32 weights).
  void matmul(const CpuContext& context, TensorView out, TensorView in, const Weight& w,
              std::optional<TensorView> bias, MatmulAccumulate accumulate, std::byte* in_bf16);

  // Number of cached primitives (for tests of the cache).
  size_t cached_primitives() const { return cache_.size(); }

 private:
  // rows, in_features, out_features, src row stride, dst row stride, weight dtype, bias, add.
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int, bool, bool>;
  const dnnl::matmul& primitive(const Key& key);

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Key, dnnl::matmul> cache_;
};

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_GEMM_H_
