#include "tensor/dtype.h"

#include <cmath>

namespace vcap::tensor {

size_t dtype_size(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

const char* dtype_name(DType dtype) { return dtype == DType::kF32 ? "f32" : "bf16"; }

size_t host_dtype_size(HostDType dtype) { return dtype == HostDType::kF32 ? 4 : 2; }

const char* host_dtype_name(HostDType dtype) {
  switch (dtype) {
    case HostDType::kF32:
      return "f32";
    case HostDType::kBF16:
      return "bf16";
    case HostDType::kF16:
      return "f16";
  }
  return "?";
}

const char* precision_name(Precision precision) {
  return precision == Precision::kF32 ? "f32" : "bf16";
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {  // inf / NaN: keep the payload
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in f32
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

}  // namespace vcap::tensor
