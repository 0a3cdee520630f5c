#include "tensor/cuda/gemm.h"

#include <string>

#include "base/check.h"
#include "tensor/cuda/elementwise.h"
#include "tensor/cuda/gemv.h"
#include "tensor/cuda/gemv_kernel.h"
#include "tensor/cuda/transfer.h"

namespace vcap::tensor::cuda {
namespace {

// cuBLASLt's advice for Hopper; also ample for Ampere.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
// Distinct shapes per clip are few (vision, prefill chunks, decode batch sizes); the bound only
// stops a long run with ever-new row counts from growing the cache without end.
constexpr size_t kMaxPlans = 512;

cudaDataType_t lt_type(int dtype) {
  return static_cast<DType>(dtype) == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
}

template <class T>
bool set_desc(CudaContext& context, cublasLtMatmulDesc_t desc,
              cublasLtMatmulDescAttributes_t attribute, const T& value) {
  return context.check(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)),
                       "cublasLtMatmulDescSetAttribute");
}

template <class T>
bool set_pref(CudaContext& context, cublasLtMatmulPreference_t pref,
              cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
  return context.check(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)),
                       "cublasLtMatmulPreferenceSetAttribute");
}

UniqueLtLayout make_layout(CudaContext& context, cudaDataType_t type, int64_t rows, int64_t cols,
                           int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  if (!context.check(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows),
                                                static_cast<uint64_t>(cols), ld),
                     "cublasLtMatrixLayoutCreate")) {
    return nullptr;
  }
  return UniqueLtLayout(layout);
}

std::string describe(const GemmEngine::Key& key) {
  std::string text = "[matmul] cuBLASLt has no algorithm for ";
  text += dtype_name(static_cast<DType>(key.dtype));
  text += " M=" + std::to_string(key.n) + " N=" + std::to_string(key.m) +
          " K=" + std::to_string(key.k) + " ld " + std::to_string(key.lda) + "/" +
          std::to_string(key.ldb) + "/" + std::to_string(key.ldd);
  return text;
}

}  // namespace

const CudaWeight& cuda_weight(const Weight& w) {
  const auto* storage = dynamic_cast<const CudaWeight*>(&w.storage());
  VCAP_CHECK(storage != nullptr, "[matmul] weight was not prepared by the CUDA backend");
  return *storage;
}

int alignment_bytes(const void* ptr, int64_t pitch_bytes) {
  const auto bits = reinterpret_cast<uintptr_t>(ptr) | static_cast<uintptr_t>(pitch_bytes) |
                    uintptr_t{256};
  return static_cast<int>(bits & (~bits + 1));  // the lowest set bit
}

GemmEngine::GemmEngine(UniqueLtHandle handle, DeviceMemory workspace)
    : handle_(std::move(handle)), workspace_(std::move(workspace)) {}

Result<std::unique_ptr<GemmEngine>> GemmEngine::create(CudaContext& context) {
  cublasLtHandle_t handle = nullptr;
  if (!context.check(cublasLtCreate(&handle), "cublasLtCreate")) return context.take_error();
  UniqueLtHandle owned(handle);
  auto workspace = context.allocate(kWorkspaceBytes, "cuBLASLt workspace");
  if (!workspace.ok()) return workspace.status();
  return std::make_unique<GemmEngine>(std::move(owned), std::move(*workspace));
}

std::unique_ptr<GemmEngine::Plan> GemmEngine::make_plan(CudaContext& context, const Key& key,
                                                        bool with_bias, const float* bias) {
  auto plan = std::make_unique<Plan>();
  cublasLtMatmulDesc_t desc = nullptr;
  if (!context.check(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                     "cublasLtMatmulDescCreate")) {
    return nullptr;
  }
  plan->desc.reset(desc);
  const cublasOperation_t transpose = CUBLAS_OP_T;
  const cublasOperation_t keep = CUBLAS_OP_N;
  if (!set_desc(context, desc, CUBLASLT_MATMUL_DESC_TRANSA, transpose) ||
      !set_desc(context, desc, CUBLASLT_MATMUL_DESC_TRANSB, keep)) {
    return nullptr;
  }
  if (with_bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const void* pointer = bias;  // the heuristic reads its alignment
    if (!set_desc(context, desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue) ||
        !set_desc(context, desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, pointer)) {
      return nullptr;
    }
  }
  plan->a = make_layout(context, lt_type(key.dtype), key.k, key.m, key.lda);
  plan->b = make_layout(context, lt_type(key.dtype), key.k, key.n, key.ldb);
  plan->d = make_layout(context, CUDA_R_32F, key.m, key.n, key.ldd);
  if (!plan->a || !plan->b || !plan->d) return nullptr;

  cublasLtMatmulPreference_t pref_raw = nullptr;
  if (!context.check(cublasLtMatmulPreferenceCreate(&pref_raw), "cublasLtMatmulPreferenceCreate")) {
    return nullptr;
  }
  const UniqueLtPreference pref(pref_raw);
  const uint64_t workspace = workspace_.size_bytes();
  const auto align = [&](int i) { return static_cast<uint32_t>(key.alignment[i]); };
  if (!set_pref(context, pref_raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace) ||
      !set_pref(context, pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align(0)) ||
      !set_pref(context, pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align(1)) ||
      !set_pref(context, pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align(2)) ||
      !set_pref(context, pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align(2))) {
    return nullptr;
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle_.get(), desc, plan->a.get(), plan->b.get(),
                                     plan->d.get(), plan->d.get(), pref_raw, 1, &result, &found);
  // "No algorithm" is an answer, not an error: the caller may try without the bias epilogue.
  if (status != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS) {
    return nullptr;
  }
  plan->algo = result.algo;
  plan->bias_in_epilogue = with_bias;
  return plan;
}

const GemmEngine::Plan* GemmEngine::plan(CudaContext& context, const Key& key,
                                         const float* bias) {
  const auto found = plans_.find(key);
  if (found != plans_.end()) return found->second.get();
  std::unique_ptr<Plan> plan;
  // The heuristic reads the bias pointer (set before it runs) for its alignment; a bias that is
  // not 16-byte aligned (a view into a larger tensor) is still left to the add_bias kernel, so
  // that no plan depends on an epilogue path for under-aligned vectors.
  // An error of an earlier op may be waiting for synchronize(): only one that make_plan records
  // here stops the search. Without a plan the op is not queued, and an error is always waiting.
  const bool failed_before = context.failed();
  const auto failed_here = [&] { return !failed_before && context.failed(); };
  if (key.bias && key.alignment[3] >= 16) plan = make_plan(context, key, true, bias);
  if (!plan && !failed_here()) plan = make_plan(context, key, false, nullptr);
  if (!plan) {
    if (!failed_here()) context.record(Status::internal(context.prefix(describe(key))));
    return nullptr;
  }
  if (plans_.size() >= kMaxPlans) plans_.clear();
  return plans_.emplace(key, std::move(plan)).first->second.get();
}

bool GemmEngine::run(CudaContext& context, const Key& key, const void* a, const void* b,
                     float* d, const float* bias) {
  const Plan* p = plan(context, key, bias);
  if (p == nullptr) return false;
  if (p->bias_in_epilogue) {
    const void* pointer = bias;
    if (!set_desc(context, p->desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, pointer)) {
      return false;
    }
  }
  const float alpha = 1.0f;
  const float beta = key.accumulate ? 1.0f : 0.0f;
  if (!context.check(cublasLtMatmul(handle_.get(), p->desc.get(), &alpha, a, p->a.get(), b,
                                    p->b.get(), &beta, d, p->d.get(), d, p->d.get(), &p->algo,
                                    workspace_.data(), workspace_.size_bytes(), context.stream()),
                     "cublasLtMatmul")) {
    return false;
  }
  if (key.bias && !p->bias_in_epilogue) {
    const TensorView out{reinterpret_cast<std::byte*>(d), DType::kF32, key.n, key.m, key.ldd};
    const TensorView row{reinterpret_cast<std::byte*>(const_cast<float*>(bias)), DType::kF32, 1,
                         key.m, key.m};
    return context.check(launch_add_bias(context.stream(), out, row), "add_bias kernel");
  }
  return true;
}

void GemmEngine::matmul(CudaContext& context, TensorView out, TensorView in, const Weight& w,
                        std::optional<TensorView> bias, MatmulAccumulate accumulate) {
  const std::byte* weight = cuda_weight(w).data();
  // The gemv kernel's conditions (gemv.h): few rows, 16-byte aligned rows of the input and of the
  // weight (k % 8 == 0 included), f32 out.
  const bool gemv =
      w.dtype() == DType::kBF16 && in.rows <= kGemvMaxRows && out.dtype == DType::kF32 &&
      (in.dtype == DType::kF32 || in.dtype == DType::kBF16) &&
      alignment_bytes(in.data, in.row_stride * static_cast<int64_t>(dtype_size(in.dtype))) >= 16 &&
      alignment_bytes(weight, w.in_features() * int64_t{sizeof(uint16_t)}) >= 16;
  if (gemv) {
    context.check(launch_gemv(context.stream(), out, in, weight, bias,
                              accumulate == MatmulAccumulate::kAddToOut),
                  "gemv kernel");
    return;
  }
  const size_t element = dtype_size(w.dtype());
  TensorView b = in;
  // cuBLASLt has no f32 x bf16 product: an f32 `in` is rounded once, as the reference's bf16
  // Linear sees it (and as the CPU backend does). A bf16 `in` (the model's are contiguous and
  // aligned) is used as it is, unless its rows are less than 16-byte aligned: then it is packed
  // like a rounded one, so that cuBLASLt never sees a layout the rounding path never gives it.
  const bool pack = w.dtype() == DType::kBF16 &&
                    (in.dtype == DType::kF32 ||
                     alignment_bytes(in.data, in.row_stride * int64_t{sizeof(uint16_t)}) < 16);
  if (pack) {
    const size_t bytes = static_cast<size_t>(in.rows * in.cols) * sizeof(uint16_t);
    auto scratch = bf16_input_.ensure(context, bytes, "bf16 matmul input");
    if (!scratch.ok()) return context.record(scratch.status());
    b = TensorView{*scratch, DType::kBF16, in.rows, in.cols, in.cols};
    if (!context.check(launch_copy(context.stream(), b, in), "bf16 matmul input kernel")) return;
  }
  const float* bias_data = bias ? bias->ptr<const float>() : nullptr;
  const Key key{w.out_features(),
                in.rows,
                in.cols,
                w.in_features(),
                b.row_stride,
                out.row_stride,
                static_cast<int>(w.dtype()),
                bias.has_value(),
                accumulate == MatmulAccumulate::kAddToOut,
                {alignment_bytes(weight, w.in_features() * static_cast<int64_t>(element)),
                 alignment_bytes(b.data, b.row_stride * static_cast<int64_t>(element)),
                 alignment_bytes(out.data, out.row_stride * static_cast<int64_t>(sizeof(float))),
                 alignment_bytes(bias_data, 0)}};
  run(context, key, weight, b.data, out.ptr<float>(), bias_data);
}

}  // namespace vcap::tensor::cuda
