// The argument and size checks that every backend runs first (tensor/op_checks.h).
#include "tensor/op_checks.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace vcap::tensor {
namespace {

// Views over one small buffer: the checks read only the metadata, never the elements.
class OpChecks : public ::testing::Test {
 protected:
  TensorView view(int64_t rows, int64_t cols, DType dtype = DType::kF32) {
    return TensorView{reinterpret_cast<std::byte*>(memory_.data()), dtype, rows, cols, cols};
  }

  std::vector<float> memory_ = std::vector<float>(64);
};
using OpChecksDeathTest = OpChecks;

TEST(AllocationBytes, CountsElementsTimesDtypeSize) {
  auto bytes = allocation_bytes("cpu", DType::kBF16, 3, 5);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 30u);
  bytes = allocation_bytes("cpu", DType::kF32, 0, 7);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 0u);
}

TEST(AllocationBytes, NegativeSizesAreInvalidAndNameTheBackendAndShape) {
  const auto bytes = allocation_bytes("cuda:1", DType::kF32, -1, 4);
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bytes.status().message(), "cuda:1: allocate f32 [-1,4]");
}

TEST(AllocationBytes, OverflowIsOutOfMemory) {
  const int64_t huge = std::numeric_limits<int64_t>::max() / 4;
  const auto bytes = allocation_bytes("cpu", DType::kF32, huge, huge);
  EXPECT_EQ(bytes.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(bytes.status().message().find("size overflows"), std::string::npos);
}

TEST(WeightBytes, UsesThePreparedDtypeNotTheHostOne) {
  const std::vector<uint16_t> host(6);
  const auto bytes =
      weight_bytes("cpu", HostMatrix{host.data(), HostDType::kBF16, 2, 3}, Precision::kF32);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 24u);
}

TEST(WeightBytes, NullDataIsInvalidAndTheMessageDescribesTheWeight) {
  const auto bytes =
      weight_bytes("cpu", HostMatrix{nullptr, HostDType::kF16, 2, 3}, Precision::kBF16);
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bytes.status().message(),
            "cpu: prepare weight [2,3] f16 -> bf16: empty matrix or null data");
}

TEST_F(OpChecks, EmptyViewsMayHaveNoData) {
  require_add(TensorView{nullptr, DType::kF32, 0, 4, 4}, TensorView{nullptr, DType::kF32, 0, 4, 4});
  require_copy(view(2, 3, DType::kBF16), view(2, 3));  // copy converts: dtypes may differ
}

TEST_F(OpChecksDeathTest, NonEmptyViewWithoutDataAborts) {
  EXPECT_DEATH(require_add(TensorView{nullptr, DType::kF32, 2, 3, 3}, view(2, 3)),
               "\\[add\\] inout is not a valid view \\[2,3\\]");
}

TEST_F(OpChecksDeathTest, MessagesNameTheOpTheArgumentAndTheShapes) {
  EXPECT_DEATH(require_silu_mul(view(2, 3), view(2, 3), view(2, 4)),
               "\\[silu_mul\\] shapes differ: \\[2,3\\] vs \\[2,4\\]");
  EXPECT_DEATH(require_layer_norm(view(2, 3), view(2, 3), view(1, 3), view(1, 2)),
               "\\[layer_norm\\] bias \\[1,2\\]");
  EXPECT_DEATH(require_rms_norm(view(2, 3), view(2, 3), view(1, 3, DType::kBF16)),
               "\\[rms_norm\\] weight must be f32");
  EXPECT_DEATH(require_download(view(2, 3), std::vector<float>(5)),
               "\\[download\\] host size 5 vs src \\[2,3\\]");
}

// A Weight of no backend: the checks read only its shape and dtype.
Weight weight_of(DType dtype, int64_t out_features, int64_t in_features) {
  struct NoStorage : WeightStorage {
    size_t size_bytes() const override { return 0; }
  };
  return Weight(std::make_unique<NoStorage>(), dtype, out_features, in_features);
}

TEST_F(OpChecks, OutputsThatFeedABf16MatmulMayBeBf16) {
  const TensorView bf16 = view(2, 4, DType::kBF16);
  require_layer_norm(bf16, view(2, 4), view(1, 4), view(1, 4));
  require_rms_norm(bf16, view(2, 4), view(1, 4));
  require_activation(bf16, view(2, 4));
  require_silu_mul(bf16, view(2, 4), view(2, 4));
  const AttentionBlock block{0, 2, view(2, 4), view(2, 4), false, 0};
  require_attention(bf16, view(2, 4), {&block, 1}, AttentionParams{1, 1, 4, 0.5f});
  require_matmul(view(2, 3), bf16, weight_of(DType::kBF16, 3, 4), std::nullopt);
}

TEST_F(OpChecksDeathTest, Bf16MatmulInputNeedsABf16Weight) {
  EXPECT_DEATH(
      require_matmul(view(2, 3), view(2, 4, DType::kBF16), weight_of(DType::kF32, 3, 4),
                     std::nullopt),
      "\\[matmul\\] in must be f32, or bf16 with a bf16 weight: out \\[2,3\\] in \\[2,4\\]");
  EXPECT_DEATH(require_matmul(view(2, 3, DType::kBF16), view(2, 4), weight_of(DType::kBF16, 3, 4),
                              std::nullopt),
               "\\[matmul\\] out must be f32");
  EXPECT_DEATH(require_activation(view(2, 4), view(2, 4, DType::kBF16)),
               "\\[activation\\] in must be f32");
  EXPECT_DEATH(require_activation(view(2, 4), view(2, 3)),
               "\\[activation\\] shapes differ: \\[2,4\\] vs \\[2,3\\]");
}

TEST_F(OpChecksDeathTest, CopyBatchPairsShareTheirDtypesAndShapes) {
  const CopyPair mixed[] = {{view(1, 4, DType::kBF16), view(1, 4)}, {view(1, 4), view(1, 4)}};
  EXPECT_DEATH(require_copy_batch(mixed), "\\[copy_batch\\] the pairs' dtypes differ");
  const CopyPair uneven[] = {{view(2, 4), view(1, 4)}};
  EXPECT_DEATH(require_copy_batch(uneven),
               "\\[copy_batch\\] shapes differ: \\[2,4\\] vs \\[1,4\\]");
  require_copy_batch({});
}

TEST_F(OpChecksDeathTest, AttentionBlocksMustStayInsideQ) {
  const AttentionParams params{2, 1, 4, 0.5f};
  const AttentionBlock block{3, 2, view(5, 4), view(5, 4), false, 0};
  EXPECT_DEATH(require_attention(view(4, 8), view(4, 8), {&block, 1}, params),
               "\\[attention\\] block rows outside q \\[4,8\\]");
}

}  // namespace
}  // namespace vcap::tensor
