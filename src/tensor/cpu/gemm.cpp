#include "tensor/cpu/gemm.h"

#include <omp.h>

#include <cstring>
#include <string>
#include <unordered_map>

#include "base/check.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/cpu/gemv_bf16.h"
#include "tensor/op_checks.h"

namespace vcap::tensor::cpu {
namespace {

using dnnl::memory;

// Rows of the matmul used to ask oneDNN for its preferred weight layout. The layout was
// measured to be the same for every M (1 .. 7306) with oneDNN 2.6 on AVX-512 (brgemm), so one
// packed copy serves prefill and decode.
constexpr int64_t kLayoutRows = 1024;

memory::data_type dnnl_type(DType dtype) {
  return dtype == DType::kF32 ? memory::data_type::f32 : memory::data_type::bf16;
}

// The part of an element's offset that index `index` of dimension `dim` contributes, in a
// blocked layout: outer index times the dimension's stride, plus its position in each inner
// block (the last inner block is the innermost).
int64_t dim_offset(const dnnl_blocking_desc_t& blocking, int dim, int64_t index) {
  int64_t inner = 0;
  int64_t inner_stride = 1;
  for (int i = blocking.inner_nblks - 1; i >= 0; --i) {
    if (blocking.inner_idxs[i] == dim) {
      inner += (index % blocking.inner_blks[i]) * inner_stride;
      index /= blocking.inner_blks[i];
    }
    inner_stride *= blocking.inner_blks[i];
  }
  return index * blocking.strides[dim] + inner;
}

// Element k of a host row, as f32 (exact for every host dtype).
float host_value(const std::byte* row, HostDType dtype, int64_t k) {
  if (dtype == HostDType::kF32) return reinterpret_cast<const float*>(row)[k];
  const uint16_t bits = reinterpret_cast<const uint16_t*>(row)[k];
  return dtype == HostDType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
}

}  // namespace

CpuWeight::CpuWeight(AlignedBytes data, size_t size_bytes, memory::desc desc,
                     std::vector<int64_t> k_offsets)
    : data_(std::move(data)),
      size_(size_bytes),
      desc_(std::move(desc)),
      k_offsets_(std::move(k_offsets)),
      gemv_reads_(gemv_bf16_reads(desc_)) {}

int64_t CpuWeight::n_offset(int64_t n) const {
  return desc_.data.offset0 + dim_offset(desc_.data.format_desc.blocking, 1, n);
}

void CpuWeight::read_rows(const CpuContext& context, TensorView out, DType dtype,
                          std::span<const int32_t> ids) const {
  const auto count = static_cast<int64_t>(ids.size());
#pragma omp parallel for num_threads(context.threads) schedule(static) if (count > 16)
  for (int64_t i = 0; i < count; ++i) {
    float* row = out.row<float>(i);
    const int64_t base = n_offset(ids[i]);
    if (dtype == DType::kF32) {
      const auto* table = reinterpret_cast<const float*>(data_.get()) + base;
      for (int64_t k = 0; k < out.cols; ++k) row[k] = table[k_offsets_[k]];
    } else {
      const auto* table = reinterpret_cast<const uint16_t*>(data_.get()) + base;
      for (int64_t k = 0; k < out.cols; ++k) row[k] = bf16_to_f32(table[k_offsets_[k]]);
    }
  }
}

const CpuWeight& cpu_weight(const Weight& w) {
  const auto* storage = dynamic_cast<const CpuWeight*>(&w.storage());
  VCAP_CHECK(storage != nullptr, "weight was not prepared by the CPU backend");
  return *storage;
}

GemmEngine::GemmEngine() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

memory::desc GemmEngine::packed_desc(int64_t k, int64_t n, DType dtype) {
  const auto dt = dnnl_type(dtype);
  try {
    const memory::desc src({kLayoutRows, k}, dt, memory::format_tag::ab);
    const memory::desc any({k, n}, dt, memory::format_tag::any);
    const memory::desc dst({kLayoutRows, n}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), engine_);
    const memory::desc chosen = pd.weights_desc();
    if (chosen.data.format_kind == dnnl_blocked) return chosen;
  } catch (const dnnl::error&) {
    // No preference available: fall through to the plain layout, which every matmul reads.
  }
  return memory::desc({k, n}, dt, {1, k});  // W [n, k] row-major
}

bool GemmEngine::bf16_matmul_available() {
  if (!bf16_matmul_available_) {
    try {
      const memory::desc src({16, 32}, memory::data_type::bf16, memory::format_tag::ab);
      const memory::desc weights({32, 32}, memory::data_type::bf16, memory::format_tag::ab);
      const memory::desc dst({16, 32}, memory::data_type::f32, memory::format_tag::ab);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), engine_);
      bf16_matmul_available_ = true;
    } catch (const dnnl::error&) {
      bf16_matmul_available_ = false;
    }
  }
  return *bf16_matmul_available_;
}

Result<Weight> GemmEngine::prepare(const CpuContext& context, const HostMatrix& host, DType dtype) {
  // oneDNN 2.6 multiplies bf16 matrices with AVX-512 only: elsewhere every product would fail.
  if (dtype == DType::kBF16 && !bf16_matmul_available()) {
    return Status::unsupported(
        "this CPU cannot multiply bf16 matrices (oneDNN needs AVX-512 for them): run with "
        "--precision f32");
  }
  const int64_t n = host.rows;
  const int64_t k = host.cols;
  memory::desc desc = packed_desc(k, n, dtype);
  const size_t bytes = desc.get_size();
  const std::string what = "weight " + shape(n, k);
  auto buffer = allocate_aligned(bytes, what.c_str());
  if (!buffer) return buffer.status();
  std::byte* data = buffer->get();
  std::memset(data, 0, bytes);  // the padding of partial blocks must read as zeros
  std::vector<int64_t> k_offsets(k);
  for (int64_t i = 0; i < k; ++i) k_offsets[i] = dim_offset(desc.data.format_desc.blocking, 0, i);
  auto storage = std::make_unique<CpuWeight>(std::move(*buffer), bytes, desc, k_offsets);
  const size_t host_row_bytes = static_cast<size_t>(k) * host_dtype_size(host.dtype);
  const auto* source = static_cast<const std::byte*>(host.data);
  // Scatter each host row into its packed positions, converting once.
#pragma omp parallel for num_threads(context.threads) schedule(static)
  for (int64_t row = 0; row < n; ++row) {
    const std::byte* src = source + row * host_row_bytes;
    const int64_t base = storage->n_offset(row);
    if (dtype == DType::kF32) {
      auto* dst = reinterpret_cast<float*>(data) + base;
      for (int64_t i = 0; i < k; ++i) dst[k_offsets[i]] = host_value(src, host.dtype, i);
    } else if (host.dtype == HostDType::kBF16) {
      auto* dst = reinterpret_cast<uint16_t*>(data) + base;
      const auto* bits = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < k; ++i) dst[k_offsets[i]] = bits[i];
    } else {
      auto* dst = reinterpret_cast<uint16_t*>(data) + base;
      for (int64_t i = 0; i < k; ++i)
        dst[k_offsets[i]] = f32_to_bf16(host_value(src, host.dtype, i));
    }
  }
  return Weight(std::move(storage), dtype, n, k);
}

const dnnl::matmul& GemmEngine::primitive(const Key& key, const memory::desc& weights) {
  // A clip uses a few dozen shapes (vision, prefill chunks, decode batch sizes).
  constexpr size_t kMaxPrimitives = 256;
  const auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  if (cache_.size() >= kMaxPrimitives) cache_.clear();
  const auto [rows, k, n, src_stride, dst_stride, weight_dtype, has_bias, add] = key;
  const auto wdt = dnnl_type(static_cast<DType>(weight_dtype));
  const memory::desc src_md({rows, k}, wdt, {src_stride, 1});
  const memory::desc dst_md({rows, n}, memory::data_type::f32, {dst_stride, 1});
  const memory::desc bias_md =
      has_bias ? memory::desc({1, n}, memory::data_type::f32, {n, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  if (add) {
    dnnl::post_ops post_ops;
    post_ops.append_sum(1.0f);
    attr.set_post_ops(post_ops);
  }
  try {
    const dnnl::matmul::desc desc(src_md, weights, bias_md, dst_md);
    const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
    return cache_.emplace(key, dnnl::matmul(pd)).first->second;
  } catch (const dnnl::error& e) {
    VCAP_CHECK(false, (std::string("[matmul] oneDNN has no primitive: ") + e.what()).c_str());
  }
  return cache_.begin()->second;  // unreachable: VCAP_CHECK(false) does not return
}

void GemmEngine::matmul(const CpuContext& context, TensorView out, TensorView in, const Weight& w,
                        std::optional<TensorView> bias, MatmulAccumulate accumulate,
                        std::byte* in_bf16) {
  const CpuWeight& weight = cpu_weight(w);
  TensorView src = in;
  if (w.dtype() == DType::kBF16) {
    if (needs_bf16_scratch(in)) {
      // oneDNN 2.6 has no f32 x bf16 matmul: round the activations to bf16 once, like the
      // reference's bf16 Linear sees them (a bf16 `in` only needs packing for gemv_bf16).
      src = TensorView{in_bf16, DType::kBF16, in.rows, in.cols, in.cols};
      convert(context, src, in);
    }
    if (in.rows <= kGemvMaxRows && context.avx512_bf16 && weight.gemv_reads()) {
      gemv_bf16(context, out, src.ptr<const uint16_t>(), weight.data(), weight.desc(), bias,
                accumulate == MatmulAccumulate::kAddToOut);
      return;
    }
  }
  const Key key{in.rows,          in.cols,
                out.cols,         src.row_stride,
                out.row_stride,   static_cast<int>(w.dtype()),
                bias.has_value(), accumulate == MatmulAccumulate::kAddToOut};
  const dnnl::matmul& matmul = primitive(key, weight.desc());
  const auto wdt = dnnl_type(w.dtype());
  const memory src_mem({{in.rows, in.cols}, wdt, {src.row_stride, 1}}, engine_, src.data);
  const memory weights_mem(weight.desc(), engine_, weight.data());
  const memory dst_mem({{out.rows, out.cols}, memory::data_type::f32, {out.row_stride, 1}}, engine_,
                       out.data);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weights_mem}, {DNNL_ARG_DST, dst_mem}};
  if (bias) {
    args.emplace(DNNL_ARG_BIAS, memory({{1, out.cols}, memory::data_type::f32, {out.cols, 1}},
                                       engine_, bias->data));
  }
  // oneDNN's OpenMP runtime sizes its parallel regions from this thread's ICV.
  omp_set_num_threads(context.threads);
  matmul.execute(stream_, args);
  stream_.wait();
}

}  // namespace vcap::tensor::cpu
