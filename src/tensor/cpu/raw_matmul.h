// A bare oneDNN matmul on one shape: the same-run yardstick that benchmarks hold the model's
// GEMM rate against. Inputs are already in the compute dtype and the weights are reordered
// once into the layout oneDNN prefers (format_tag::any), so only the kernel is timed: the best
// case oneDNN offers on this machine, with whatever ISA it picks (impl_info says which).
#ifndef VCAP_TENSOR_CPU_RAW_MATMUL_H_
#define VCAP_TENSOR_CPU_RAW_MATMUL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "tensor/dtype.h"

namespace vcap::tensor {

// out[m, n] (f32) = in[m, k] · W[k, n], in and W in the precision's dtype.
class RawMatmul {
 public:
  // kInvalidArgument for non-positive sizes; kUnsupported when oneDNN has no kernel for them.
  static Result<RawMatmul> create(int64_t m, int64_t k, int64_t n, Precision precision);

  RawMatmul(RawMatmul&&) noexcept;
  RawMatmul& operator=(RawMatmul&&) noexcept;
  ~RawMatmul();

  // One product, waited for. Uses the OpenMP threads of the calling thread.
  void run();
  // The best wall seconds of `repeats` runs (after one warm-up run).
  double best_seconds(int repeats);
  double flops() const { return 2.0 * static_cast<double>(m_) * k_ * n_; }
  int64_t weight_bytes() const;
  // oneDNN's name for the kernel it chose (e.g. "brg:avx512_core_amx").
  std::string implementation() const;

 private:
  struct Primitive;
  RawMatmul(std::unique_ptr<Primitive> primitive, int64_t m, int64_t k, int64_t n);

  std::unique_ptr<Primitive> primitive_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
};

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CPU_RAW_MATMUL_H_
