// Rotary position embedding applied in place to the heads of a row (spec 8.2, 10.3).
// Shapes are checked by the caller (cpu_backend.cpp).
#ifndef VCAP_TENSOR_CPU_ROTARY_H_
#define VCAP_TENSOR_CPU_ROTARY_H_

#include "tensor/cpu/cpu_context.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cpu {

void rotary(const CpuContext& context, TensorView x, TensorView cos, TensorView sin, int num_heads,
            int head_dim);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ROTARY_H_
