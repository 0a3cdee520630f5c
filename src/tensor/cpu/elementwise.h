// Elementwise CPU kernels: dtype conversion and copies, activations, SwiGLU, residual add, row
// scatter. Shapes are checked by the caller (cpu_backend.cpp); these only compute.
// Each has a portable scalar path and an AVX-512 path picked by CpuContext::avx512.
#ifndef VCAP_TENSOR_CPU_ELEMENTWISE_H_
#define VCAP_TENSOR_CPU_ELEMENTWISE_H_

#include <cstdint>
#include <span>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

// dst = src converted (f32 <-> bf16, or a plain copy). Same shape, any strides.
void convert(const CpuContext& context, TensorView dst, TensorView src);

// dst = host converted to dst.dtype (f32, bf16 or f16 source). Same shape; host contiguous.
void convert_from_host(const CpuContext& context, TensorView dst, const HostMatrix& host);

void activation(const CpuContext& context, TensorView out, TensorView in, Activation kind);
void silu_mul(const CpuContext& context, TensorView out, TensorView gate, TensorView up);
void add(const CpuContext& context, TensorView inout, TensorView other);

// dst row dst_rows[i] = src row i.
void copy_rows(const CpuContext& context, TensorView dst, TensorView src,
               std::span<const int64_t> dst_rows);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ELEMENTWISE_H_
