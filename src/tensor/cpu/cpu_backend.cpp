#include "tensor/cpu/cpu_backend.h"

#include <algorithm>
#include <string>

#include "base/check.h"
#include "base/cpu_features.h"
#include "tensor/cpu/attention.h"
#include "tensor/cpu/cpu_context.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/norm.h"
#include "tensor/cpu/rotary.h"
#include "tensor/op_checks.h"

namespace vcap::tensor {
namespace {

using cpu::CpuContext;

class CpuBuffer : public Buffer {
 public:
  CpuBuffer(cpu::AlignedBytes bytes, size_t size) : bytes_(std::move(bytes)), size_(size) {}
  std::byte* data() const override { return bytes_.get(); }
  size_t size_bytes() const override { return size_; }

 private:
  cpu::AlignedBytes bytes_;
  size_t size_;
};

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(CpuContext context) : context_(context) {}

  std::string name() const override { return "cpu"; }

  Result<Tensor> allocate(DType dtype, int64_t rows, int64_t cols) override {
    const auto bytes = allocation_bytes(name(), dtype, rows, cols);
    if (!bytes.ok()) return bytes.status();
    const std::string what = std::string(dtype_name(dtype)) + " " + shape(rows, cols);
    auto memory = cpu::allocate_aligned(*bytes, ("tensor " + what).c_str());
    if (!memory) return memory.status();
    return Tensor(std::make_unique<CpuBuffer>(std::move(*memory), *bytes), dtype, rows, cols);
  }

  using Backend::upload;
  void upload(TensorView dst, const HostMatrix& host) override {
    require_upload(dst, host);
    cpu::convert_from_host(context_, dst, host);
  }

  void download(TensorView src, std::span<float> host) override {
    require_download(src, host);
    const TensorView dst{reinterpret_cast<std::byte*>(host.data()), DType::kF32, src.rows, src.cols,
                         src.cols};
    cpu::convert(context_, dst, src);
  }

  Result<Weight> prepare_weight(const HostMatrix& host, Precision precision) override;

  void matmul(TensorView out, TensorView in, const Weight& w, std::optional<TensorView> bias,
              MatmulAccumulate accumulate) override;

  void gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) override {
    require_gather_rows(out, table, ids);
    cpu::cpu_weight(table).read_rows(context_, out, table.dtype(), ids);
  }

  void layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias,
                  float eps) override {
    require_layer_norm(out, in, weight, bias);
    with_f32_out(out, [&](TensorView f32, int64_t first) {
      cpu::layer_norm(context_, f32, in.rows_slice(first, f32.rows), weight, bias, eps);
    });
  }

  void rms_norm(TensorView out, TensorView in, TensorView weight, float eps) override {
    require_rms_norm(out, in, weight);
    with_f32_out(out, [&](TensorView f32, int64_t first) {
      cpu::rms_norm(context_, f32, in.rows_slice(first, f32.rows), weight, eps);
    });
  }

  void rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) override;

  void attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                 const AttentionParams& params) override;

  void activation(TensorView out, TensorView in, Activation kind) override {
    require_activation(out, in);
    with_f32_out(out, [&](TensorView f32, int64_t first) {
      cpu::activation(context_, f32, in.rows_slice(first, f32.rows), kind);
    });
  }

  void silu_mul(TensorView out, TensorView gate, TensorView up) override {
    require_silu_mul(out, gate, up);
    with_f32_out(out, [&](TensorView f32, int64_t first) {
      cpu::silu_mul(context_, f32, gate.rows_slice(first, f32.rows),
                    up.rows_slice(first, f32.rows));
    });
  }

  void add(TensorView inout, TensorView other) override {
    require_add(inout, other);
    cpu::add(context_, inout, other);
  }

  void copy(TensorView dst, TensorView src) override {
    require_copy(dst, src);
    cpu::convert(context_, dst, src);
  }

  void copy_batch(std::span<const CopyPair> pairs) override {
    require_copy_batch(pairs);
    for (const CopyPair& pair : pairs) cpu::convert(context_, pair.dst, pair.src);
  }

  void copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) override {
    require_copy_rows(dst, src, dst_rows);
    cpu::copy_rows(context_, dst, src, dst_rows);
  }

  void process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                      std::span<LargestScore> largest) override {
    require_process_scores(scores, rules, largest);
    parallel_for_host(scores.rows, [&](int64_t r) {
      const std::span<float> row(reinterpret_cast<float*>(scores.data) + r * scores.row_stride,
                                 static_cast<size_t>(scores.cols));
      largest[static_cast<size_t>(r)] = process_score_row(row, rules[static_cast<size_t>(r)]);
    });
  }

  Status synchronize() override { return Status(); }

  void parallel_for_host(int64_t count, const std::function<void(int64_t)>& body) override {
    const int threads = static_cast<int>(std::clamp<int64_t>(count, 1, context_.threads));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t i = 0; i < count; ++i) body(i);
  }

 private:
  // Host memory reused from call to call, grown when a call needs more.
  class Scratch {
   public:
    std::byte* ensure(size_t bytes, const char* what) {
      if (bytes > size_) {
        auto memory = cpu::allocate_aligned(bytes, what);
        VCAP_CHECK(memory.ok(), memory.status().to_string().c_str());
        memory_ = std::move(*memory);
        size_ = bytes;
      }
      return memory_.get();
    }

   private:
    cpu::AlignedBytes memory_;
    size_t size_ = 0;
  };

  // Contiguous f32 scratch [rows, cols], for an op that writes a bf16 out (a bf16 matmul's
  // input, backend.h): the CPU kernels compute in f32 and the result is rounded into out after.
  // The bf16 out saves a GPU's memory traffic; here it only moves the rounding from the matmul
  // to the op.
  TensorView f32_scratch(int64_t rows, int64_t cols) {
    const size_t bytes = static_cast<size_t>(rows * cols) * sizeof(float);
    return TensorView{f32_out_.ensure(bytes, "f32 output scratch"), DType::kF32, rows, cols, cols};
  }

  // For an op whose rows are independent: op(f32, first) computes rows [first, first +
  // f32.rows) of the result into f32. That is out itself when f32, else blocks of scratch rows
  // rounded into out one after the other, so the scratch stays small whatever the rows.
  template <class Op>
  void with_f32_out(TensorView out, Op&& op) {
    if (out.dtype == DType::kF32) return op(out, 0);
    constexpr int64_t kBlockRows = 64;
    for (int64_t first = 0; first < out.rows; first += kBlockRows) {
      const int64_t rows = std::min(kBlockRows, out.rows - first);
      const TensorView f32 = f32_scratch(rows, out.cols);
      op(f32, first);
      cpu::convert(context_, out.rows_slice(first, rows), f32);
    }
  }

  CpuContext context_;
  cpu::GemmEngine gemm_;
  Scratch bf16_in_;  // f32 activations rounded to bf16 for bf16 matmuls
  Scratch f32_out_;  // f32 results of ops that write a bf16 out
};

Result<Weight> CpuBackend::prepare_weight(const HostMatrix& host, Precision precision) {
  if (auto bytes = weight_bytes(name(), host, precision); !bytes.ok()) return bytes.status();
  auto weight = gemm_.prepare(context_, host, weight_dtype(precision));
  if (!weight) {
    return weight.status().with_context("cpu: prepare " + weight_description(host, precision));
  }
  return weight;
}

void CpuBackend::matmul(TensorView out, TensorView in, const Weight& w,
                        std::optional<TensorView> bias, MatmulAccumulate accumulate) {
  require_matmul(out, in, w, bias);
  std::byte* in_bf16 = nullptr;
  if (w.dtype() == DType::kBF16 && cpu::needs_bf16_scratch(in)) {
    in_bf16 = bf16_in_.ensure(static_cast<size_t>(in.num_elements()) * sizeof(uint16_t),
                              "bf16 matmul scratch");
  }
  gemm_.matmul(context_, out, in, w, bias, accumulate, in_bf16);
}

void CpuBackend::rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) {
  require_rotary(x, cos, sin, num_heads, head_dim);
  cpu::rotary(context_, x, cos, sin, num_heads, head_dim);
}

void CpuBackend::attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                           const AttentionParams& params) {
  require_attention(out, q, blocks, params);
  if (out.dtype == DType::kF32) return cpu::attention(context_, out, q, blocks, params);
  // Only the blocks' rows are written: only they are rounded into out.
  const TensorView f32 = f32_scratch(out.rows, out.cols);
  cpu::attention(context_, f32, q, blocks, params);
  for (const AttentionBlock& block : blocks) {
    cpu::convert(context_, out.rows_slice(block.q_begin, block.q_count),
                 f32.rows_slice(block.q_begin, block.q_count));
  }
}

}  // namespace

Result<std::unique_ptr<Backend>> make_cpu_backend(const CpuBackendOptions& options) {
  if (options.threads < 0) {
    return Status::invalid_argument("cpu backend: threads must be >= 0, got " +
                                    std::to_string(options.threads));
  }
  CpuContext context;
  context.threads = options.threads == 0 ? cpu::available_cores() : options.threads;
  context.avx512 = options.use_avx512 && cpu::cpu_has_avx512();
  context.avx512_bf16 = context.avx512 && cpu::cpu_has_avx512_bf16();
  context.avx2 = !context.avx512 && options.use_avx2 && cpu_has_avx2_fma();
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(context));
}

}  // namespace vcap::tensor
