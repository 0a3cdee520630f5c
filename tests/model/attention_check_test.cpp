// Qwen2VL::load asks the backend whether it can run both towers' attention before it loads a
// weight (Backend::check_attention), so that a GPU that cannot (f32 attention at head_dim 128
// on an sm_89 card) refuses the run at once instead of failing every clip.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "model/forwarding_backend.h"
#include "model/pico_model_test.h"
#include "model/qwen2vl.h"
#include "tensor/cpu/cpu_backend.h"

namespace vcap::model {
namespace {

using tensor::AttentionParams;
using tensor::TensorView;

// The CPU backend, but with an attention check the test controls, and a count of the weights
// prepared.
class CheckedBackend : public testing::ForwardingBackend {
 public:
  explicit CheckedBackend(std::optional<Status> refusal) : refusal_(std::move(refusal)) {}

  mutable std::vector<AttentionParams> asked;  // by check_attention, a const method
  int weights_prepared = 0;

  Status check_attention(const AttentionParams& params) const override {
    asked.push_back(params);
    return refusal_.value_or(Status());
  }
  Result<tensor::Weight> prepare_weight(const tensor::HostMatrix& host,
                                        tensor::Precision precision) override {
    ++weights_prepared;
    return ForwardingBackend::prepare_weight(host, precision);
  }

 private:
  std::optional<Status> refusal_;
};

class AttentionCheck : public testing::PicoModelTest<AttentionCheck> {};

TEST_F(AttentionCheck, LoadAsksAboutBothTowersWithTheModelsParameters) {
  for (const tensor::Precision precision : {tensor::Precision::kBF16, tensor::Precision::kF32}) {
    CheckedBackend backend(std::nullopt);
    Result<Qwen2VL> loaded = Qwen2VL::load(model(), backend, precision);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    const ModelDims& dims = loaded->dims();
    ASSERT_EQ(backend.asked.size(), 2u);
    const AttentionParams& vision = backend.asked[0];
    const AttentionParams& text = backend.asked[1];
    const bool bf16 = precision == tensor::Precision::kBF16;
    EXPECT_EQ(vision.num_heads, dims.vision.num_heads);
    EXPECT_EQ(vision.num_kv_heads, dims.vision.num_heads);
    EXPECT_EQ(vision.head_dim, dims.vision.head_dim());
    EXPECT_EQ(vision.bf16_products, bf16);
    EXPECT_EQ(text.num_heads, dims.text.num_heads);
    EXPECT_EQ(text.num_kv_heads, dims.text.num_kv_heads);
    EXPECT_EQ(text.head_dim, dims.text.head_dim());
    EXPECT_FLOAT_EQ(text.scale, 1.0f / std::sqrt(static_cast<float>(dims.text.head_dim())));
    EXPECT_EQ(text.bf16_products, bf16);
  }
}

TEST_F(AttentionCheck, ARefusalStopsTheLoadBeforeAnyWeight) {
  CheckedBackend backend(Status::unsupported("cuda:0: f32 attention needs more shared memory"));
  Result<Qwen2VL> loaded = Qwen2VL::load(model(), backend, tensor::Precision::kF32);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(loaded.status().message(), "cuda:0: f32 attention needs more shared memory");
  EXPECT_EQ(backend.weights_prepared, 0);
}

}  // namespace
}  // namespace vcap::model
