#include "io/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace vcap::io {
namespace {

TEST(Half, Bf16WidensExactly) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(bf16_to_f32(0x3F81), 1.0f + 1.0f / 128.0f);
  EXPECT_TRUE(std::isinf(bf16_to_f32(0x7F80)));
}

TEST(Half, Bf16NarrowingRoundsToNearestEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(f32_to_bf16_rne(1.0f + 1.0f / 256.0f), 0x3F80);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
  EXPECT_EQ(f32_to_bf16_rne(1.0f + 3.0f / 256.0f), 0x3F82);
  // Just above the tie rounds up.
  EXPECT_EQ(f32_to_bf16_rne(std::nextafter(1.0f + 1.0f / 256.0f, 2.0f)), 0x3F81);
  EXPECT_EQ(f32_to_bf16_rne(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16_rne(std::numeric_limits<float>::max()), 0x7F80);  // overflows to inf
}

TEST(Half, Bf16KeepsNaNQuiet) {
  const uint16_t bits = f32_to_bf16_rne(std::bit_cast<float>(0x7F800001u));  // signalling NaN
  EXPECT_TRUE(std::isnan(bf16_to_f32(bits)));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16_rne(std::nanf("")))));
}

TEST(Half, EveryBf16SurvivesARoundTrip) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const float value = bf16_to_f32(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    ASSERT_EQ(f32_to_bf16_rne(value), bits) << bits;
  }
}

TEST(Half, F16WidensNormalsSubnormalsAndSpecials) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
  EXPECT_TRUE(std::isinf(f16_to_f32(0xFC00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
}

TEST(Half, EveryF16SurvivesARoundTrip) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const float value = f16_to_f32(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    ASSERT_EQ(f32_to_f16_rne(value), bits) << bits;
  }
}

TEST(Half, F16NarrowingRoundsTiesToEvenAndOverflows) {
  EXPECT_EQ(f32_to_f16_rne(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even
  EXPECT_EQ(f32_to_f16_rne(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(f32_to_f16_rne(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16_rne(65520.0f), 0x7C00);
  EXPECT_EQ(f32_to_f16_rne(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(f32_to_f16_rne(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16_rne(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp -> 2
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16_rne(std::nanf("")))));
}

}  // namespace
}  // namespace vcap::io
