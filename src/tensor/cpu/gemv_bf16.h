// The bf16 matmul of a few rows (a decode step: one row per sequence) as our own AVX512-BF16
// kernel, in place of oneDNN. Such a product reads every weight once for a handful of FLOPs
// each, so its speed is the speed at which the weights stream from memory; oneDNN 2.6's brgemm
// reached about 27 GB/s on the lm_head here where a plain read loop reaches 40+ (issue #8).
//
// The kernel reads the weights in the layout GemmEngine already packed for oneDNN (16a64b2a:
// per block of 64 output columns, for each pair of input features, 64 bf16 pairs, which is the
// operand layout of vdpbf16ps), so one copy serves both. Each thread streams a contiguous run of
// column blocks once, whatever the number of rows.
#ifndef VCAP_TENSOR_CPU_GEMV_BF16_H_
#define VCAP_TENSOR_CPU_GEMV_BF16_H_

#include <cstdint>
#include <dnnl.hpp>
#include <optional>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor::cpu {

// Rows up to which gemv_bf16 is used (and measured to beat oneDNN on Qwen2-VL-2B's decode
// shapes, bench/gemm_bench.cpp).
constexpr int64_t kGemvMaxRows = 8;

// True when `weights` (oneDNN [K, N] weights) is bf16 in the 16a64b2a layout with even K, the
// only layout gemv_bf16 reads.
bool gemv_bf16_reads(const dnnl::memory::desc& weights);

// out = in_bf16 * W^T (+ bias) (+ out when accumulate), f32 accumulation in input-feature
// order. in_bf16: [rows, K] bf16 (the activations already rounded), contiguous; W the packed
// weights (gemv_bf16_reads(desc)); bias: [1, N] f32 contiguous or absent; out: [rows, N] f32,
// any row stride.
// REQUIRES: context.avx512_bf16; 1 <= rows <= kGemvMaxRows.
void gemv_bf16(const CpuContext& context, TensorView out, const uint16_t* in_bf16,
               const std::byte* weights, const dnnl::memory::desc& desc,
               std::optional<TensorView> bias, bool accumulate);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_GEMV_BF16_H_
