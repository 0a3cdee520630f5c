// Matrix multiplication through cuBLASLt: out[M, N] = in[M, K] * W[N, K]^T (+ bias) (+ out).
//
// Row-major matrices are column-major matrices transposed, so the call cuBLASLt sees is
// D[N, M] = op(A)[N, K] * B[K, M] with A = W (stored [K, N] column-major, transposed),
// B = in, C = D = out (ld = the views' row strides). With kAddToOut beta is 1 and C is out.
//   - f32 weights: A, B, C, D f32 and CUBLAS_COMPUTE_32F: true f32 products, no TF32.
//   - bf16 weights: B is the input rounded to bf16 (a kernel, like the CPU backend) unless it
//     comes bf16 already (tensor/backend.h) with 16-byte aligned rows, A and B bf16, C and D
//     f32, CUBLAS_COMPUTE_32F (bf16 products accumulated in f32).
// The bias (f32, like D) goes in cuBLASLt's epilogue when the heuristic has an algorithm for
// that, else a kernel adds it after the product.
//
// A bf16 product of at most 16 rows (a decode step's) whose input and weight rows are 16-byte
// aligned runs our own kernel instead (gemv.h): one launch in place of up to three, and none of
// cuBLASLt's host time.
//
// cuBLASLt picks an algorithm per shape (a heuristic query costs tens of microseconds); the
// plans are cached by shape, leading dimensions, dtype, mode and pointer alignment. Every
// pointer's alignment is told to the heuristic, so strided column slices are safe.
// Not thread-safe (one Backend, one thread).
#ifndef VCAP_TENSOR_CUDA_GEMM_H_
#define VCAP_TENSOR_CUDA_GEMM_H_

#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include "tensor/backend.h"
#include "tensor/cuda/cuda_context.h"

namespace vcap::tensor::cuda {

// A weight matrix [N, K] row-major in device memory, of dtype f32 or bf16.
class CudaWeight : public WeightStorage {
 public:
  explicit CudaWeight(DeviceMemory memory) : memory_(std::move(memory)) {}
  size_t size_bytes() const override { return memory_.size_bytes(); }
  const std::byte* data() const { return memory_.data(); }

 private:
  DeviceMemory memory_;
};

// The CudaWeight of a Weight; aborts if the Weight came from another backend.
const CudaWeight& cuda_weight(const Weight& w);

struct LtHandleDeleter {
  void operator()(cublasLtHandle_t handle) const { cublasLtDestroy(handle); }
};
struct LtMatmulDescDeleter {
  void operator()(cublasLtMatmulDesc_t desc) const { cublasLtMatmulDescDestroy(desc); }
};
struct LtLayoutDeleter {
  void operator()(cublasLtMatrixLayout_t layout) const { cublasLtMatrixLayoutDestroy(layout); }
};
struct LtPreferenceDeleter {
  void operator()(cublasLtMatmulPreference_t pref) const { cublasLtMatmulPreferenceDestroy(pref); }
};
using UniqueLtHandle = std::unique_ptr<cublasLtContext, LtHandleDeleter>;
using UniqueLtMatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtMatmulDescDeleter>;
using UniqueLtLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtLayoutDeleter>;
using UniqueLtPreference =
    std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtPreferenceDeleter>;

class GemmEngine {
 public:
  // The cuBLASLt handle and a workspace. Errors: kInternal / kOutOfMemory.
  static Result<std::unique_ptr<GemmEngine>> create(CudaContext& context);

  // out = in * W^T (+ bias) (+ out) on the context's stream, see the file comment. An f32 `in`
  // with a bf16 weight is first rounded into `bf16_input` scratch. Shapes are checked by the
  // caller. Failures are recorded in the context (reported by the next synchronize).
  void matmul(CudaContext& context, TensorView out, TensorView in, const Weight& w,
              std::optional<TensorView> bias, MatmulAccumulate accumulate);

  // A plan key; public for the benchmark's raw cuBLASLt comparison.
  struct Key {
    int64_t m, n, k;          // D is [m = N, n = M] column-major; k = K
    int64_t lda, ldb, ldd;    // leading dimensions (elements)
    int dtype;                // DType of A and B
    bool bias;
    bool accumulate;
    std::array<int, 4> alignment;  // bytes: A, B, C/D, bias
    auto operator<=>(const Key&) const = default;
  };

  // Key -> plan handle: D = alpha op(A) B + beta C. Runs one product with raw device pointers
  // (a: [K, N] column-major of the key's dtype, b: [K, M] of the key's dtype, d: f32);
  // returns false (error recorded) when cuBLASLt refuses. For the benchmark and matmul.
  bool run(CudaContext& context, const Key& key, const void* a, const void* b, float* d,
           const float* bias);

  explicit GemmEngine(UniqueLtHandle handle, DeviceMemory workspace);

 private:
  struct Plan {
    UniqueLtMatmulDesc desc;
    UniqueLtLayout a, b, d;
    cublasLtMatmulAlgo_t algo{};
    bool bias_in_epilogue = false;
  };
  // The cached plan of `key`, or null (error recorded) when cuBLASLt has no algorithm.
  const Plan* plan(CudaContext& context, const Key& key, const float* bias);
  std::unique_ptr<Plan> make_plan(CudaContext& context, const Key& key, bool with_bias,
                                  const float* bias);

  UniqueLtHandle handle_;
  DeviceMemory workspace_;
  DeviceScratch bf16_input_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

// Largest power of two (<= 256) dividing the address and `pitch_bytes`: what the heuristic may
// assume about a matrix whose rows start at ptr + i * pitch_bytes.
int alignment_bytes(const void* ptr, int64_t pitch_bytes);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_GEMM_H_
