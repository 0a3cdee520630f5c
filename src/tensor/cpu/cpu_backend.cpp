#include "tensor/cpu/cpu_backend.h"

#include <cstring>
#include <limits>
#include <string>

#include "base/check.h"
#include "tensor/cpu/attention.h"
#include "tensor/cpu/cpu_context.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/norm.h"
#include "tensor/cpu/rotary.h"

namespace vcap::tensor {
namespace {

using cpu::CpuContext;

// "[rows,cols]". Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on
// `"literal" + std::string&&` chains.
std::string shape(int64_t rows, int64_t cols) {
  std::string text = "[";
  text += std::to_string(rows);
  text += ",";
  text += std::to_string(cols);
  text += "]";
  return text;
}

std::string shape(TensorView v) { return shape(v.rows, v.cols); }

// Aborts with "[op] what: shapes" when a programmer's shape assumption is broken.
void require(bool condition, const char* op, const std::string& what) {
  VCAP_CHECK(condition, (std::string("[") + op + "] " + what).c_str());
}

void require_f32(TensorView v, const char* op, const char* name) {
  require(v.dtype == DType::kF32, op, std::string(name) + " must be f32");
  require(v.rows >= 0 && v.cols >= 0 && v.row_stride >= v.cols, op,
          std::string(name) + " is not a valid view " + shape(v));
}

void require_same_shape(TensorView a, TensorView b, const char* op) {
  require(a.rows == b.rows && a.cols == b.cols, op,
          "shapes differ: " + shape(a) + " vs " + shape(b));
}

class CpuBuffer : public Buffer {
 public:
  CpuBuffer(cpu::AlignedBytes bytes, size_t size) : bytes_(std::move(bytes)), size_(size) {}
  std::byte* data() const override { return bytes_.get(); }
  size_t size_bytes() const override { return size_; }

 private:
  cpu::AlignedBytes bytes_;
  size_t size_;
};

// Bytes of a rows x cols matrix of `element` bytes, or nullopt on overflow / negative sizes.
std::optional<size_t> matrix_bytes(int64_t rows, int64_t cols, size_t element) {
  if (rows < 0 || cols < 0) return std::nullopt;
  const auto limit = std::numeric_limits<size_t>::max() / 2;
  if (rows != 0 && static_cast<size_t>(cols) > limit / static_cast<size_t>(rows) / element) {
    return std::nullopt;
  }
  return static_cast<size_t>(rows) * static_cast<size_t>(cols) * element;
}

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(CpuContext context) : context_(context) {}

  std::string name() const override { return "cpu"; }

  Result<Tensor> allocate(DType dtype, int64_t rows, int64_t cols) override {
    const std::string what = std::string(dtype_name(dtype)) + " " + shape(rows, cols);
    if (rows < 0 || cols < 0) return Status::invalid_argument("cpu: allocate " + what);
    const auto bytes = matrix_bytes(rows, cols, dtype_size(dtype));
    if (!bytes) return Status::out_of_memory("cpu: allocate " + what + ": size overflows");
    auto memory = cpu::allocate_aligned(*bytes, ("tensor " + what).c_str());
    if (!memory) return memory.status();
    return Tensor(std::make_unique<CpuBuffer>(std::move(*memory), *bytes), dtype, rows, cols);
  }

  using Backend::upload;
  void upload(TensorView dst, const HostMatrix& host) override {
    require(host.rows == dst.rows && host.cols == dst.cols, "upload",
            "host " + shape(host.rows, host.cols) + " vs dst " + shape(dst));
    require(host.data != nullptr || dst.num_elements() == 0, "upload", "null host data");
    cpu::convert_from_host(context_, dst, host);
  }

  void download(TensorView src, std::span<float> host) override {
    require(static_cast<int64_t>(host.size()) == src.rows * src.cols, "download",
            "host size " + std::to_string(host.size()) + " vs src " + shape(src));
    const TensorView dst{reinterpret_cast<std::byte*>(host.data()), DType::kF32, src.rows, src.cols,
                         src.cols};
    cpu::convert(context_, dst, src);
  }

  Result<Weight> prepare_weight(const HostMatrix& host, Precision precision) override;

  void matmul(TensorView out, TensorView in, const Weight& w, std::optional<TensorView> bias,
              MatmulAccumulate accumulate) override;

  void gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) override {
    require_f32(out, "gather_rows", "out");
    require(out.rows == static_cast<int64_t>(ids.size()) && out.cols == table.in_features(),
            "gather_rows",
            "out " + shape(out) + " vs " + std::to_string(ids.size()) + " ids x table cols " +
                std::to_string(table.in_features()));
    for (const int32_t id : ids) {
      require(id >= 0 && id < table.out_features(), "gather_rows",
              "id " + std::to_string(id) + " outside the table's " +
                  std::to_string(table.out_features()) + " rows");
    }
    cpu::cpu_weight(table).read_rows(context_, out, table.dtype(), ids);
  }

  void layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias,
                  float eps) override {
    check_norm(out, in, weight, "layer_norm");
    require_f32(bias, "layer_norm", "bias");
    require(bias.rows == 1 && bias.cols == in.cols, "layer_norm", "bias " + shape(bias));
    cpu::layer_norm(context_, out, in, weight, bias, eps);
  }

  void rms_norm(TensorView out, TensorView in, TensorView weight, float eps) override {
    check_norm(out, in, weight, "rms_norm");
    cpu::rms_norm(context_, out, in, weight, eps);
  }

  void rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) override;

  void attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                 const AttentionParams& params) override;

  void activation(TensorView inout, Activation kind) override {
    require_f32(inout, "activation", "inout");
    cpu::activation(context_, inout, kind);
  }

  void silu_mul(TensorView out, TensorView gate, TensorView up) override {
    require_f32(out, "silu_mul", "out");
    require_f32(gate, "silu_mul", "gate");
    require_f32(up, "silu_mul", "up");
    require_same_shape(out, gate, "silu_mul");
    require_same_shape(out, up, "silu_mul");
    cpu::silu_mul(context_, out, gate, up);
  }

  void add(TensorView inout, TensorView other) override {
    require_f32(inout, "add", "inout");
    require_f32(other, "add", "other");
    require_same_shape(inout, other, "add");
    cpu::add(context_, inout, other);
  }

  void copy(TensorView dst, TensorView src) override {
    require(dst.row_stride >= dst.cols && src.row_stride >= src.cols, "copy", "invalid view");
    require_same_shape(dst, src, "copy");
    cpu::convert(context_, dst, src);
  }

  void copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) override {
    require_f32(dst, "copy_rows", "dst");
    require_f32(src, "copy_rows", "src");
    require(dst.cols == src.cols && static_cast<int64_t>(dst_rows.size()) == src.rows, "copy_rows",
            "dst " + shape(dst) + " src " + shape(src) + " with " +
                std::to_string(dst_rows.size()) + " row indices");
    for (const int64_t row : dst_rows) {
      require(row >= 0 && row < dst.rows, "copy_rows",
              "row " + std::to_string(row) + " outside dst " + shape(dst));
    }
    cpu::copy_rows(context_, dst, src, dst_rows);
  }

  Status synchronize() override { return Status(); }

 private:
  void check_norm(TensorView out, TensorView in, TensorView weight, const char* op) {
    require_f32(out, op, "out");
    require_f32(in, op, "in");
    require_f32(weight, op, "weight");
    require_same_shape(out, in, op);
    require(weight.rows == 1 && weight.cols == in.cols && in.cols > 0, op,
            "weight " + shape(weight) + " vs in " + shape(in));
  }

  CpuContext context_;
  cpu::GemmEngine gemm_;
  cpu::AlignedBytes bf16_scratch_;  // activations rounded to bf16 for bf16 matmuls
  size_t bf16_scratch_bytes_ = 0;
};

Result<Weight> CpuBackend::prepare_weight(const HostMatrix& host, Precision precision) {
  const std::string what = "weight " + shape(host.rows, host.cols) + " " +
                           host_dtype_name(host.dtype) + " -> " + precision_name(precision);
  if (host.rows <= 0 || host.cols <= 0 || host.data == nullptr) {
    return Status::invalid_argument("cpu: prepare " + what + ": empty matrix or null data");
  }
  const DType dtype = weight_dtype(precision);
  if (!matrix_bytes(host.rows, host.cols, dtype_size(dtype))) {
    return Status::out_of_memory("cpu: prepare " + what + ": size overflows");
  }
  auto weight = gemm_.prepare(context_, host, dtype);
  if (!weight) return weight.status().with_context("cpu: prepare " + what);
  return weight;
}

void CpuBackend::matmul(TensorView out, TensorView in, const Weight& w,
                        std::optional<TensorView> bias, MatmulAccumulate accumulate) {
  require(!w.empty(), "matmul", "empty weight");
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
  require_f32(x, "rotary", "x");
  require_f32(cos, "rotary", "cos");
  require_f32(sin, "rotary", "sin");
  require(head_dim > 0 && head_dim % 2 == 0 && num_heads > 0 &&
              x.cols == static_cast<int64_t>(num_heads) * head_dim,
          "rotary",
          "x " + shape(x) + " vs " + std::to_string(num_heads) + " heads of " +
              std::to_string(head_dim));
  require(cos.rows == x.rows && cos.cols == head_dim / 2, "rotary", "cos " + shape(cos));
  require_same_shape(cos, sin, "rotary");
  cpu::rotary(context_, x, cos, sin, num_heads, head_dim);
}

void CpuBackend::attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                           const AttentionParams& params) {
  require_f32(out, "attention", "out");
  require_f32(q, "attention", "q");
  require(params.num_heads > 0 && params.num_kv_heads > 0 && params.head_dim > 0 &&
              params.num_heads % params.num_kv_heads == 0,
          "attention", "bad head counts");
  const int64_t width = static_cast<int64_t>(params.num_heads) * params.head_dim;
  const int64_t kv_width = static_cast<int64_t>(params.num_kv_heads) * params.head_dim;
  require(q.cols == width, "attention", "q " + shape(q) + " vs heads x head_dim");
  require_same_shape(out, q, "attention");
  for (const AttentionBlock& block : blocks) {
    require(block.q_begin >= 0 && block.q_count >= 0 && block.q_begin + block.q_count <= q.rows,
            "attention", "block rows outside q " + shape(q));
    require_f32(block.k, "attention", "k");
    require_f32(block.v, "attention", "v");
    require(block.k.cols == kv_width && block.v.cols == kv_width, "attention",
            "k " + shape(block.k) + " v " + shape(block.v) + " vs kv heads x head_dim");
    require(block.k.rows == block.v.rows, "attention", "k and v rows differ");
  }
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
