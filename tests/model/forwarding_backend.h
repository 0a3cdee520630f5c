// A Backend that hands every call to the CPU backend, for tests that watch or change one of
// them (override it and call ForwardingBackend's).
#ifndef VCAP_TESTS_MODEL_FORWARDING_BACKEND_H_
#define VCAP_TESTS_MODEL_FORWARDING_BACKEND_H_

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"

namespace vcap::model::testing {

class ForwardingBackend : public tensor::Backend {
 public:
  ForwardingBackend() {
    auto cpu = tensor::make_cpu_backend({.threads = 1});
    EXPECT_TRUE(cpu.ok());
    if (cpu.ok()) inner_ = std::move(*cpu);
  }

  Status check_attention(const tensor::AttentionParams& params) const override {
    return inner_->check_attention(params);
  }
  std::string name() const override { return inner_->name(); }
  Result<tensor::Tensor> allocate(tensor::DType dtype, int64_t rows, int64_t cols) override {
    return inner_->allocate(dtype, rows, cols);
  }
  void upload(tensor::TensorView dst, const tensor::HostMatrix& host) override {
    inner_->upload(dst, host);
  }
  void download(tensor::TensorView src, std::span<float> host) override {
    inner_->download(src, host);
  }
  Result<tensor::Weight> prepare_weight(const tensor::HostMatrix& host,
                                        tensor::Precision precision) override {
    return inner_->prepare_weight(host, precision);
  }
  void matmul(tensor::TensorView out, tensor::TensorView in, const tensor::Weight& w,
              std::optional<tensor::TensorView> bias,
              tensor::MatmulAccumulate accumulate) override {
    inner_->matmul(out, in, w, bias, accumulate);
  }
  void gather_rows(tensor::TensorView out, const tensor::Weight& table,
                   std::span<const int32_t> ids) override {
    inner_->gather_rows(out, table, ids);
  }
  void layer_norm(tensor::TensorView out, tensor::TensorView in, tensor::TensorView weight,
                  tensor::TensorView bias, float eps) override {
    inner_->layer_norm(out, in, weight, bias, eps);
  }
  void rms_norm(tensor::TensorView out, tensor::TensorView in, tensor::TensorView weight,
                float eps) override {
    inner_->rms_norm(out, in, weight, eps);
  }
  void rotary(tensor::TensorView x, tensor::TensorView cos, tensor::TensorView sin, int num_heads,
              int head_dim) override {
    inner_->rotary(x, cos, sin, num_heads, head_dim);
  }
  void attention(tensor::TensorView out, tensor::TensorView q,
                 std::span<const tensor::AttentionBlock> blocks,
                 const tensor::AttentionParams& params) override {
    inner_->attention(out, q, blocks, params);
  }
  void activation(tensor::TensorView out, tensor::TensorView in, tensor::Activation kind) override {
    inner_->activation(out, in, kind);
  }
  void silu_mul(tensor::TensorView out, tensor::TensorView gate, tensor::TensorView up) override {
    inner_->silu_mul(out, gate, up);
  }
  void add(tensor::TensorView inout, tensor::TensorView other) override {
    inner_->add(inout, other);
  }
  void copy(tensor::TensorView dst, tensor::TensorView src) override { inner_->copy(dst, src); }
  void copy_batch(std::span<const tensor::CopyPair> pairs) override { inner_->copy_batch(pairs); }
  void copy_rows(tensor::TensorView dst, tensor::TensorView src,
                 std::span<const int64_t> dst_rows) override {
    inner_->copy_rows(dst, src, dst_rows);
  }
  void process_scores(tensor::TensorView scores, std::span<const tensor::ScoreRowRule> rules,
                      std::span<tensor::LargestScore> largest) override {
    inner_->process_scores(scores, rules, largest);
  }
  Status synchronize() override { return inner_->synchronize(); }

 private:
  std::unique_ptr<tensor::Backend> inner_;
};

}  // namespace vcap::model::testing

#endif  // VCAP_TESTS_MODEL_FORWARDING_BACKEND_H_
