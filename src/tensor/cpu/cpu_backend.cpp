#include "tensor/cpu/cpu_backend.h"

#include <string>

#include "base/check.h"
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
    cpu::layer_norm(context_, out, in, weight, bias, eps);
  }

  void rms_norm(TensorView out, TensorView in, TensorView weight, float eps) override {
    require_rms_norm(out, in, weight);
    cpu::rms_norm(context_, out, in, weight, eps);
  }

  void rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) override;

  void attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                 const AttentionParams& params) override;

  void activation(TensorView inout, Activation kind) override {
    require_activation(inout);
    cpu::activation(context_, inout, kind);
  }

  void silu_mul(TensorView out, TensorView gate, TensorView up) override {
    require_silu_mul(out, gate, up);
    cpu::silu_mul(context_, out, gate, up);
  }

  void add(TensorView inout, TensorView other) override {
    require_add(inout, other);
    cpu::add(context_, inout, other);
  }

  void copy(TensorView dst, TensorView src) override {
    require_copy(dst, src);
    cpu::convert(context_, dst, src);
  }

  void copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) override {
    require_copy_rows(dst, src, dst_rows);
    cpu::copy_rows(context_, dst, src, dst_rows);
  }

  Status synchronize() override { return Status(); }

 private:
  CpuContext context_;
  cpu::GemmEngine gemm_;
  cpu::AlignedBytes bf16_scratch_;  // activations rounded to bf16 for bf16 matmuls
  size_t bf16_scratch_bytes_ = 0;
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
  if (w.dtype() == DType::kBF16) {
    const size_t need = static_cast<size_t>(in.rows * in.cols) * sizeof(uint16_t);
    if (need > bf16_scratch_bytes_) {
      auto memory = cpu::allocate_aligned(need, "bf16 matmul scratch");
      VCAP_CHECK(memory.ok(), memory.status().to_string().c_str());
      bf16_scratch_ = std::move(*memory);
      bf16_scratch_bytes_ = need;
    }
  }
  gemm_.matmul(context_, out, in, w, bias, accumulate, bf16_scratch_.get());
}

void CpuBackend::rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) {
  require_rotary(x, cos, sin, num_heads, head_dim);
  cpu::rotary(context_, x, cos, sin, num_heads, head_dim);
}

void CpuBackend::attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                           const AttentionParams& params) {
  require_attention(out, q, blocks, params);
  cpu::attention(context_, out, q, blocks, params);
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
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(context));
}

}  // namespace vcap::tensor
