// Argument checks of the Backend ops, with the CPU backend's messages ("[op] what: shapes"), so
// both backends abort the same way on a programmer's mistake (tensor/backend.h: shape errors
// abort via VCAP_CHECK; they are never a bad-input path).
#ifndef VCAP_TENSOR_CUDA_OP_CHECKS_H_
#define VCAP_TENSOR_CUDA_OP_CHECKS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "tensor/backend.h"

namespace vcap::tensor::cuda {

// "[rows,cols]".
std::string shape(int64_t rows, int64_t cols);
std::string shape(TensorView v);

// Aborts with "[op] what" unless `condition`.
void require(bool condition, const char* op, const std::string& what);

// f32 and a valid view (rows, cols >= 0, row_stride >= cols, data when non-empty).
void require_f32(TensorView v, const char* op, const char* name);

void require_same_shape(TensorView a, TensorView b, const char* op);

// in/out [rows, cols] f32, weight [1, cols] f32, cols > 0 (the norms).
void require_norm(TensorView out, TensorView in, TensorView weight, const char* op);

void require_matmul(TensorView out, TensorView in, const Weight& w,
                    const std::optional<TensorView>& bias);

void require_rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim);

void require_attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                       const AttentionParams& params);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_OP_CHECKS_H_
