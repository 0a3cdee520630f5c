// Conversions between float32 and the 16-bit float formats stored in checkpoints.
//
// bf16 is the top half of an IEEE float32 (8-bit exponent, 7-bit mantissa); f16 is IEEE
// binary16 (5-bit exponent, 10-bit mantissa). Widening is exact. Narrowing rounds to nearest,
// ties to even, as PyTorch's `.to(torch.bfloat16)` does; NaN stays a (quiet) NaN and keeps its
// sign. All functions are pure and header-only so that kernels can inline them.
#ifndef VCAP_IO_HALF_H_
#define VCAP_IO_HALF_H_

#include <bit>
#include <cstdint>

namespace vcap::io {

inline float bf16_to_f32(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// Round to nearest even. Overflow past the largest bf16 gives infinity, as it must.
inline uint16_t f32_to_bf16_rne(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // NaN: force a quiet NaN
  }
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

inline float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) {
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal: normalise the mantissa; the value is mantissa * 2^-24.
  uint32_t shifted_exponent = 113;  // 127 - 15 + 1
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --shifted_exponent;
  }
  return std::bit_cast<float>(sign | (shifted_exponent << 23) | ((mantissa & 0x3FFu) << 13));
}

// Round to nearest even, with subnormal results and overflow to infinity.
inline uint16_t f32_to_f16_rne(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);   // NaN
  if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520: inf
  if (magnitude >= 0x38800000u) {  // normal f16 (>= 2^-14)
    const uint32_t lsb = (magnitude >> 13) & 1u;
    const uint32_t rounded = magnitude + 0xFFFu + lsb;
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  if (magnitude < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25)
  // Subnormal: shift the full 24-bit significand so the unit is 2^-24, rounding to even.
  const uint32_t exponent = magnitude >> 23;
  const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // 14..24
  const uint32_t half = 1u << (shift - 1);
  const uint32_t rest = significand & ((1u << shift) - 1u);
  uint32_t result = significand >> shift;
  if (rest > half || (rest == half && (result & 1u) != 0)) ++result;
  return static_cast<uint16_t>(sign | result);
}

}  // namespace vcap::io

#endif  // VCAP_IO_HALF_H_
