// Element types of device tensors and of host weight sources, and the scalar conversions
// between them.
//
// Device tensors hold F32 (all activations, norm weights, biases, the KV cache) or BF16 (weights
// and, optionally, copies made with Backend::copy). Host sources (usually a mmapped safetensors
// file) may also be F16. Precision picks how a backend stores matmul weights.
#ifndef VCAP_TENSOR_DTYPE_H_
#define VCAP_TENSOR_DTYPE_H_

#include <bit>
#include <cstddef>
#include <cstdint>

namespace vcap::tensor {

// Element type of a device tensor or weight.
enum class DType { kF32, kBF16 };

// Bytes per element: 4 for kF32, 2 for kBF16.
size_t dtype_size(DType dtype);

// "f32" or "bf16" (used in messages).
const char* dtype_name(DType dtype);

// Element type of a host matrix handed to Backend::prepare_weight / Backend::upload.
// Mirrors the safetensors dtypes a Qwen2-VL checkpoint uses; tensor does not depend on io.
enum class HostDType { kF32, kBF16, kF16 };

// Bytes per element: 4, 2, 2.
size_t host_dtype_size(HostDType dtype);

// "f32", "bf16" or "f16".
const char* host_dtype_name(HostDType dtype);

// How a backend keeps matmul weights (and the embedding table).
//   kF32:  weights widened to f32, GEMMs in f32. The parity path.
//   kBF16: weights kept (or rounded to) bf16; matmul rounds the f32 activations to bf16 and
//          accumulates in f32. The fast path.
enum class Precision { kF32, kBF16 };

// "f32" or "bf16".
const char* precision_name(Precision precision);

// Storage dtype of weights prepared with `precision`.
inline DType weight_dtype(Precision precision) {
  return precision == Precision::kF32 ? DType::kF32 : DType::kBF16;
}

// bf16 -> f32 is exact: bf16 is the top half of an f32.
inline float bf16_to_f32(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// f32 -> bf16 with round-to-nearest-even, as torch's .to(torch.bfloat16) does. NaN stays a
// (quiet) NaN; values beyond the bf16 range round to +-inf.
inline uint16_t f32_to_bf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// IEEE half -> f32, exact (subnormals, infinities and NaN included).
float f16_to_f32(uint16_t bits);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_DTYPE_H_
