#include "tensor/cpu/gemm.h"

#include <omp.h>

#include <string>
#include <unordered_map>

#include "base/check.h"
#include "tensor/cpu/elementwise.h"

namespace vcap::tensor::cpu {
namespace {

using dnnl::memory;

memory::data_type dnnl_type(DType dtype) {
  return dtype == DType::kF32 ? memory::data_type::f32 : memory::data_type::bf16;
}

std::string shapes(TensorView out, TensorView in, const Weight& w) {
  return "out [" + std::to_string(out.rows) + "," + std::to_string(out.cols) + "] in [" +
         std::to_string(in.rows) + "," + std::to_string(in.cols) + "] W [" +
         std::to_string(w.out_features()) + "," + std::to_string(w.in_features()) + "]";
}

}  // namespace

const CpuWeight& cpu_weight(const Weight& w) {
  const auto* storage = dynamic_cast<const CpuWeight*>(&w.storage());
  VCAP_CHECK(storage != nullptr, "weight was not prepared by the CPU backend");
  return *storage;
}

GemmEngine::GemmEngine() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

const dnnl::matmul& GemmEngine::primitive(const Key& key) {
  const auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  const auto [rows, k, n, src_stride, dst_stride, weight_dtype, has_bias, add] = key;
  const auto wdt = dnnl_type(static_cast<DType>(weight_dtype));
  const memory::desc src_md({rows, k}, wdt, {src_stride, 1});
  const memory::desc weights_md({k, n}, wdt, {1, k});  // W [n, k] row-major read as [k, n]
  const memory::desc dst_md({rows, n}, memory::data_type::f32, {dst_stride, 1});
  const memory::desc bias_md = has_bias ? memory::desc({1, n}, memory::data_type::f32, {n, 1})
                                        : memory::desc();
  dnnl::primitive_attr attr;
  if (add) {
    dnnl::post_ops post_ops;
    post_ops.append_sum(1.0f);
    attr.set_post_ops(post_ops);
  }
  try {
    const dnnl::matmul::desc desc(src_md, weights_md, bias_md, dst_md);
    const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
    return cache_.emplace(key, dnnl::matmul(pd)).first->second;
  } catch (const dnnl::error& e) {
    VCAP_CHECK(false, (std::string("[matmul] oneDNN has no primitive: ") + e.what()).c_str());
  }
  return cache_.begin()->second;  // unreachable: VCAP_CHECK(false) does not return
}

void GemmEngine::matmul(const CpuContext& context, TensorView out, TensorView in,
                        const Weight& w, std::optional<TensorView> bias,
                        MatmulAccumulate accumulate, std::byte* in_bf16) {
  const std::string what = shapes(out, in, w);
  VCAP_CHECK(in.dtype == DType::kF32 && out.dtype == DType::kF32,
             ("[matmul] in and out must be f32: " + what).c_str());
  VCAP_CHECK(in.cols == w.in_features() && out.cols == w.out_features() && in.rows == out.rows &&
                 in.rows >= 1,
             ("[matmul] shapes differ: " + what).c_str());
  if (bias) {
    VCAP_CHECK(bias->dtype == DType::kF32 && bias->rows == 1 && bias->cols == out.cols,
               ("[matmul] bias must be f32 [1, out_features]: " + what).c_str());
  }
  const CpuWeight& weight = cpu_weight(w);
  TensorView src = in;
  if (w.dtype() == DType::kBF16) {
    // oneDNN 2.6 has no f32 x bf16 matmul: round the activations to bf16 once, like the
    // reference's bf16 Linear sees them.
    src = TensorView{in_bf16, DType::kBF16, in.rows, in.cols, in.cols};
    convert(context, src, in);
  }
  const Key key{in.rows, in.cols, out.cols, src.row_stride, out.row_stride,
                static_cast<int>(w.dtype()), bias.has_value(),
                accumulate == MatmulAccumulate::kAddToOut};
  const dnnl::matmul& matmul = primitive(key);
  const auto wdt = dnnl_type(w.dtype());
  const memory src_mem({{in.rows, in.cols}, wdt, {src.row_stride, 1}}, engine_, src.data);
  const memory weights_mem({{in.cols, out.cols}, wdt, {1, in.cols}}, engine_, weight.data());
  const memory dst_mem({{out.rows, out.cols}, memory::data_type::f32, {out.row_stride, 1}},
                       engine_, out.data);
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
