// Matrix multiplication on the CPU through oneDNN (our gemv_bf16.h for bf16 products of a few
// rows), and the CPU layout of prepared weights.
//
// A CpuWeight holds W [out_features, in_features] (oneDNN's [K, N] weights tensor) packed once,
// at load time, in the blocked layout oneDNN's matmul prefers (e.g. a16b64 for f32, a16b64a2
// for bf16 on AVX-512). With a plain layout oneDNN would repack the weights on every call,
// which doubles the memory traffic of a decode step. The same packed bytes serve the embedding
// lookup (read_rows) of a tied embedding / lm_head, so no second copy is kept: in a blocked
// layout the offset of element (k, n) is k_offset(k) + n_offset(n).
//
// GemmEngine owns the oneDNN engine and stream and a cache of matmul primitives keyed by shape,
// strides and mode: creating a primitive costs far more than running a small one, and the model
// uses few distinct shapes per clip. Rows (M) change from clip to clip (prompt length, number
// of frames), so the cache is bounded: when full it is emptied and refilled by the current clip.
// Not thread-safe (one Backend, one caller thread).
#ifndef VCAP_TENSOR_CPU_GEMM_H_
#define VCAP_TENSOR_CPU_GEMM_H_

#include <cstdint>
#include <dnnl.hpp>
#include <map>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

class CpuWeight : public WeightStorage {
 public:
  CpuWeight(AlignedBytes data, size_t size_bytes, dnnl::memory::desc desc,
            std::vector<int64_t> k_offsets);
  size_t size_bytes() const override { return size_; }
  std::byte* data() const { return data_.get(); }
  const dnnl::memory::desc& desc() const { return desc_; }

  // Element offset of W[n][k] (= oneDNN weights (k, n)) from data().
  int64_t offset(int64_t n, int64_t k) const { return n_offset(n) + k_offsets_[k]; }
  int64_t n_offset(int64_t n) const;
  // True when the few-row kernel (gemv_bf16.h) reads this layout.
  bool gemv_reads() const { return gemv_reads_; }

  // out row i = W row ids[i], widened to f32. out: [ids.size(), K] f32.
  void read_rows(const CpuContext& context, TensorView out, DType dtype,
                 std::span<const int32_t> ids) const;

 private:
  AlignedBytes data_;
  size_t size_;
  dnnl::memory::desc desc_;
  std::vector<int64_t> k_offsets_;  // [K]
  bool gemv_reads_;
};

// The CpuWeight of a Weight; aborts if the Weight came from another backend.
const CpuWeight& cpu_weight(const Weight& w);

// True when a matmul with a bf16 weight first writes `in` as contiguous bf16 scratch: an f32
// `in` is rounded there, and gemv_bf16 reads contiguous rows only.
inline bool needs_bf16_scratch(TensorView in) {
  return in.dtype == DType::kF32 || !in.contiguous();
}

class GemmEngine {
 public:
  GemmEngine();

  // W = host converted to `dtype` and packed (see the file comment). Errors: kOutOfMemory;
  // kUnsupported for bf16 where oneDNN has no bf16 matmul (CPUs without AVX-512).
  Result<Weight> prepare(const CpuContext& context, const HostMatrix& host, DType dtype);

  // out = in * W^T (+ bias) (+ out), see Backend::matmul. `in_bf16` is scratch for the bf16
  // path when needs_bf16_scratch(in): rows * in_features bf16 values (else ignored).
  // REQUIRES: the arguments pass require_matmul (tensor/op_checks.h); the caller checks them.
  void matmul(const CpuContext& context, TensorView out, TensorView in, const Weight& w,
              std::optional<TensorView> bias, MatmulAccumulate accumulate, std::byte* in_bf16);

 private:
  // rows, in_features, out_features, src row stride, dst row stride, weight dtype, bias, add.
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int, bool, bool>;
  const dnnl::matmul& primitive(const Key& key, const dnnl::memory::desc& weights);
  dnnl::memory::desc packed_desc(int64_t k, int64_t n, DType dtype);
  // Whether oneDNN makes a bf16 x bf16 -> f32 matmul on this CPU (asked once).
  bool bf16_matmul_available();

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Key, dnnl::matmul> cache_;
  std::optional<bool> bf16_matmul_available_;
};

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_GEMM_H_
