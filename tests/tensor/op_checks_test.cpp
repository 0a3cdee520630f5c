// The argument and size checks that every backend runs first (tensor/op_checks.h).
#include "tensor/op_checks.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <limits>
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

TEST_F(OpChecksDeathTest, AttentionBlocksMustStayInsideQ) {
  const AttentionParams params{2, 1, 4, 0.5f};
  const AttentionBlock block{3, 2, view(5, 4), view(5, 4), false, 0};
  EXPECT_DEATH(require_attention(view(4, 8), view(4, 8), {&block, 1}, params),
               "\\[attention\\] block rows outside q \\[4,8\\]");
}

}  // namespace
}  // namespace vcap::tensor
