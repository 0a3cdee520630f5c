#include "tensor/cuda/op_checks.h"

#include <limits>

#include "base/check.h"
#include "tensor/cuda/attention.h"

namespace vcap::tensor::cuda {

// Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on `"literal" + std::string&&`.
std::string shape(int64_t rows, int64_t cols) {
  std::string text = "[";
  text += std::to_string(rows);
  text += ",";
  text += std::to_string(cols);
  text += "]";
  return text;
}

std::string shape(TensorView v) { return shape(v.rows, v.cols); }

void require(bool condition, const char* op, const std::string& what) {
  if (condition) return;
  VCAP_CHECK(false, (std::string("[") + op + "] " + what).c_str());
}

void require_f32(TensorView v, const char* op, const char* name) {
  require(v.dtype == DType::kF32, op, std::string(name) + " must be f32");
  require(v.rows >= 0 && v.cols >= 0 && v.row_stride >= v.cols &&
              (v.data != nullptr || v.num_elements() == 0),
          op, std::string(name) + " is not a valid view " + shape(v));
}

void require_same_shape(TensorView a, TensorView b, const char* op) {
  require(a.rows == b.rows && a.cols == b.cols, op,
          "shapes differ: " + shape(a) + " vs " + shape(b));
}

void require_norm(TensorView out, TensorView in, TensorView weight, const char* op) {
  require_f32(out, op, "out");
  require_f32(in, op, "in");
  require_f32(weight, op, "weight");
  require_same_shape(out, in, op);
  require(weight.rows == 1 && weight.cols == in.cols && in.cols > 0, op,
          "weight " + shape(weight) + " vs in " + shape(in));
}

void require_matmul(TensorView out, TensorView in, const Weight& w,
                    const std::optional<TensorView>& bias) {
  require(!w.empty(), "matmul", "empty weight");
  std::string what = "out " + shape(out);
  what += " in " + shape(in);
  what += " W " + shape(w.out_features(), w.in_features());
  require(in.dtype == DType::kF32 && out.dtype == DType::kF32, "matmul",
          "in and out must be f32: " + what);
  require(in.cols == w.in_features() && out.cols == w.out_features() && in.rows == out.rows &&
              in.rows >= 1,
          "matmul", "shapes differ: " + what);
  require(in.row_stride >= in.cols && out.row_stride >= out.cols, "matmul",
          "invalid view: " + what);
  if (bias) {
    require(bias->dtype == DType::kF32 && bias->rows == 1 && bias->cols == out.cols, "matmul",
            "bias must be f32 [1, out_features]: " + what);
  }
}

void require_rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) {
  require_f32(x, "rotary", "x");
  require_f32(cos, "rotary", "cos");
  require_f32(sin, "rotary", "sin");
  require(head_dim > 0 && head_dim % 2 == 0 && num_heads > 0 &&
              x.cols == static_cast<int64_t>(num_heads) * head_dim,
          "rotary",
          "x " + shape(x) + " vs " + std::to_string(num_heads) + " heads of " +
              std::to_string(head_dim));
  require(cos.rows == x.rows && cos.cols == head_dim / 2, "rotary", "cos " + shape(cos));
  require_same_shape(cos, sin, "rotary");
}

void require_attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                       const AttentionParams& params) {
  require_f32(out, "attention", "out");
  require_f32(q, "attention", "q");
  require(params.num_heads > 0 && params.num_kv_heads > 0 && params.head_dim > 0 &&
              params.num_heads % params.num_kv_heads == 0,
          "attention", "bad head counts");
  require(params.head_dim <= kAttentionMaxHeadDim, "attention",
          "head_dim " + std::to_string(params.head_dim) + " > " +
              std::to_string(kAttentionMaxHeadDim) + " is not supported on CUDA");
  const int64_t width = static_cast<int64_t>(params.num_heads) * params.head_dim;
  const int64_t kv_width = static_cast<int64_t>(params.num_kv_heads) * params.head_dim;
  require(q.cols == width, "attention", "q " + shape(q) + " vs heads x head_dim");
  require_same_shape(out, q, "attention");
  for (const AttentionBlock& block : blocks) {
    require(block.q_begin >= 0 && block.q_count >= 0 && block.q_begin + block.q_count <= q.rows,
            "attention", "block rows outside q " + shape(q));
    require_f32(block.k, "attention", "k");
    require_f32(block.v, "attention", "v");
    require(block.k.cols == kv_width && block.v.cols == kv_width, "attention",
            "k " + shape(block.k) + " v " + shape(block.v) + " vs kv heads x head_dim");
    require(block.k.rows == block.v.rows, "attention", "k and v rows differ");
    require(block.k.rows <= std::numeric_limits<int32_t>::max() / 2, "attention",
            "more than 2^30 keys in a block");
  }
}

}  // namespace vcap::tensor::cuda
