#include "tensor/cpu/raw_matmul.h"

#include <gtest/gtest.h>

namespace vcap::tensor {
namespace {

TEST(RawMatmul, RunsAndReportsItsWork) {
  for (Precision precision : {Precision::kF32, Precision::kBF16}) {
    Result<RawMatmul> matmul = RawMatmul::create(8, 64, 32, precision);
    ASSERT_TRUE(matmul.ok()) << matmul.status().to_string();
    EXPECT_DOUBLE_EQ(matmul->flops(), 2.0 * 8 * 64 * 32);
    EXPECT_EQ(matmul->weight_bytes(), 64 * 32 * (precision == Precision::kF32 ? 4 : 2));
    EXPECT_FALSE(matmul->implementation().empty());
    EXPECT_GT(matmul->best_seconds(2), 0.0);
  }
}

TEST(RawMatmul, RefusesEmptyShapes) {
  EXPECT_EQ(RawMatmul::create(0, 64, 32, Precision::kF32).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RawMatmul::create(8, -1, 32, Precision::kBF16).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vcap::tensor
