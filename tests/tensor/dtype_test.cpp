#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/tensor.h"

namespace vcap::tensor {
namespace {

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly half-way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + 0.00390625f), 0x3f80);
  // 1 + 3*2^-8 is half-way between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0.00390625f), 0x3f82);
  EXPECT_EQ(f32_to_bf16(1.0f + 0.005f), 0x3f81);
  EXPECT_EQ(bf16_to_f32(0xbf80), -1.0f);
}

TEST(Bf16, KeepsInfinityAndNan) {
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(f32_to_bf16(3.4e38f), 0x7f80);  // beyond the largest bf16: rounds to infinity
}

TEST(F16, ConvertsNormalsSubnormalsAndSpecials) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(host_dtype_size(HostDType::kF16), 2u);
  EXPECT_STREQ(dtype_name(DType::kBF16), "bf16");
  EXPECT_STREQ(precision_name(Precision::kF32), "f32");
  EXPECT_EQ(weight_dtype(Precision::kBF16), DType::kBF16);
}

TEST(TensorView, SlicesKeepTheRowStride) {
  float storage[4 * 6] = {};
  TensorView view{reinterpret_cast<std::byte*>(storage), DType::kF32, 4, 6, 6};
  const TensorView rows = view.rows_slice(1, 2);
  EXPECT_EQ(rows.ptr<float>(), storage + 6);
  EXPECT_EQ(rows.rows, 2);
  const TensorView cols = view.cols_slice(2, 3);
  EXPECT_EQ(cols.ptr<float>(), storage + 2);
  EXPECT_EQ(cols.cols, 3);
  EXPECT_EQ(cols.row_stride, 6);
  EXPECT_FALSE(cols.contiguous());
  EXPECT_EQ(cols.row<float>(3), storage + 3 * 6 + 2);
  const TensorView reshaped = view.reshape(2, 12);
  EXPECT_EQ(reshaped.row_stride, 12);
  EXPECT_TRUE(reshaped.contiguous());
}

TEST(TensorViewDeathTest, ReshapeOfAStridedViewAborts) {
  float storage[4 * 6] = {};
  TensorView view{reinterpret_cast<std::byte*>(storage), DType::kF32, 4, 6, 6};
  EXPECT_DEATH(view.cols_slice(0, 3).reshape(3, 4), "reshape of a strided view");
}

}  // namespace
}  // namespace vcap::tensor
