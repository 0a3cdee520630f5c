// Row normalisations (LayerNorm for the vision tower, RMSNorm for the LLM), statistics in f32.
// Shapes are checked by the caller (cpu_backend.cpp). out may alias in.
#ifndef VCAP_TENSOR_CPU_NORM_H_
#define VCAP_TENSOR_CPU_NORM_H_

#include "tensor/cpu/cpu_context.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cpu {

void layer_norm(const CpuContext& context, TensorView out, TensorView in, TensorView weight,
                TensorView bias, float eps);

void rms_norm(const CpuContext& context, TensorView out, TensorView in, TensorView weight,
              float eps);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_NORM_H_
