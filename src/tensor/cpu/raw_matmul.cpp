#include "tensor/cpu/raw_matmul.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dnnl.hpp>

namespace vcap::tensor {

struct RawMatmul::Primitive {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::memory src, weights, dst;
  dnnl::matmul matmul;
  std::string implementation;
  size_t element_bytes = 0;
};

Result<RawMatmul> RawMatmul::create(int64_t m, int64_t k, int64_t n, Precision precision) {
  if (m <= 0 || k <= 0 || n <= 0)
    return Status::invalid_argument("raw matmul: sizes must be positive");
  using dnnl::memory;
  const auto dt = precision == Precision::kF32 ? memory::data_type::f32 : memory::data_type::bf16;
  try {
    auto p = std::make_unique<Primitive>();
    const memory::desc src_md({m, k}, dt, memory::format_tag::ab);
    const memory::desc any_weights({k, n}, dt, memory::format_tag::any);
    const memory::desc dst_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_weights, dst_md),
                                          p->engine);
    p->element_bytes = dt == memory::data_type::f32 ? 4 : 2;
    // Values do not change the speed; 0x3c3c is a small normal number in both dtypes.
    memory plain({{k, n}, dt, memory::format_tag::ba}, p->engine);
    std::memset(plain.get_data_handle(), 0x3c, static_cast<size_t>(k * n) * p->element_bytes);
    p->weights = memory(pd.weights_desc(), p->engine);
    dnnl::reorder(plain, p->weights).execute(p->stream, plain, p->weights);
    p->src = memory(src_md, p->engine);
    std::memset(p->src.get_data_handle(), 0x3c, static_cast<size_t>(m * k) * p->element_bytes);
    p->dst = memory(dst_md, p->engine);
    p->matmul = dnnl::matmul(pd);
    p->implementation = pd.impl_info_str();
    p->stream.wait();
    return RawMatmul(std::move(p), m, k, n);
  } catch (const dnnl::error& e) {
    return Status::unsupported(std::string("oneDNN matmul [") + std::to_string(m) + "x" +
                               std::to_string(k) + "]x[" + std::to_string(k) + "x" +
                               std::to_string(n) + "]: " + e.what());
  }
}

RawMatmul::RawMatmul(std::unique_ptr<Primitive> primitive, int64_t m, int64_t k, int64_t n)
    : primitive_(std::move(primitive)), m_(m), k_(k), n_(n) {}
RawMatmul::RawMatmul(RawMatmul&&) noexcept = default;
RawMatmul& RawMatmul::operator=(RawMatmul&&) noexcept = default;
RawMatmul::~RawMatmul() = default;

void RawMatmul::run() {
  Primitive& p = *primitive_;
  p.matmul.execute(p.stream,
                   {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, p.dst}});
  p.stream.wait();
}

double RawMatmul::best_seconds(int repeats) {
  run();
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r == 0 || seconds < best) best = seconds;
  }
  return best;
}

int64_t RawMatmul::weight_bytes() const {
  return k_ * n_ * static_cast<int64_t>(primitive_->element_bytes);
}

std::string RawMatmul::implementation() const { return primitive_->implementation; }

}  // namespace vcap::tensor
