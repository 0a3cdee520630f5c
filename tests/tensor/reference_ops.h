// Double-precision references of the Backend ops, on host matrices (std::vector, row-major,
// unstrided). The tests of every backend (tests/tensor on the CPU, tests/gpu on CUDA) compare
// the backend's f32 results with these, each with its own tolerance per op.
#ifndef VCAP_TESTS_TENSOR_REFERENCE_OPS_H_
#define VCAP_TESTS_TENSOR_REFERENCE_OPS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace vcap::tensor::testing {

inline double round_bf16(double value) {
  return bf16_to_f32(f32_to_bf16(static_cast<float>(value)));
}

// The expected output of a matmul and, per element, the scale of the rounding error an f32 dot
// product may accumulate: sum_i |in_i * w_i| + |bias| + |previous out| (+ 1e-6).
struct MatmulReference {
  std::vector<double> values;  // [rows, out_features]
  std::vector<double> scale;   // [rows, out_features]
};

// in [rows, in_features] * w[out_features, in_features]^T, plus `bias` [out_features] when not
// empty, plus `previous` [rows, out_features] when not empty (MatmulAccumulate::kAddToOut).
// `bf16`: in and w are rounded to bf16 first, as a bf16 matmul sees them.
inline MatmulReference reference_matmul(const std::vector<float>& in, const std::vector<float>& w,
                                        const std::vector<float>& bias,
                                        const std::vector<float>& previous, int64_t rows,
                                        int64_t in_features, int64_t out_features, bool bf16) {
  MatmulReference result;
  result.values.resize(static_cast<size_t>(rows * out_features));
  result.scale.resize(result.values.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out_features; ++o) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < in_features; ++i) {
        double a = in[r * in_features + i];
        double b = w[o * in_features + i];
        if (bf16) a = round_bf16(a), b = round_bf16(b);
        sum += a * b;
        magnitude += std::abs(a * b);
      }
      if (!bias.empty()) sum += bias[o], magnitude += std::abs(bias[o]);
      if (!previous.empty()) {
        const double old = previous[r * out_features + o];
        sum += old;
        magnitude += std::abs(old);
      }
      result.values[r * out_features + o] = sum;
      result.scale[r * out_features + o] = magnitude + 1e-6;
    }
  }
  return result;
}

// Two-pass layer norm of x [rows, cols] with weight and bias [cols].
inline std::vector<double> reference_layer_norm(const std::vector<float>& x,
                                                const std::vector<float>& w,
                                                const std::vector<float>& b, int64_t rows,
                                                int64_t cols, double eps) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    const double rstd = 1.0 / std::sqrt(var / cols + eps);
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = (x[r * cols + c] - mean) * rstd * w[c] + b[c];
    }
  }
  return out;
}

// RMS norm of x [rows, cols] with weight [cols].
inline std::vector<double> reference_rms_norm(const std::vector<float>& x,
                                              const std::vector<float>& w, int64_t rows,
                                              int64_t cols, double eps) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double squares = 0.0;
    for (int64_t c = 0; c < cols; ++c) squares += double(x[r * cols + c]) * x[r * cols + c];
    const double rstd = 1.0 / std::sqrt(squares / cols + eps);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] * rstd * w[c];
  }
  return out;
}

// Rotary on x [rows, num_heads * head_dim]: in every head, the pair (d, d + head_dim/2) turns
// by the angle whose cos and sin are row r, column d of cos and sin [rows, head_dim/2].
inline std::vector<double> reference_rotary(const std::vector<float>& x,
                                            const std::vector<float>& cos,
                                            const std::vector<float>& sin, int64_t rows,
                                            int num_heads, int head_dim) {
  const int64_t width = int64_t{num_heads} * head_dim, half = head_dim / 2;
  std::vector<double> out(x.begin(), x.end());
  for (int64_t r = 0; r < rows; ++r) {
    for (int h = 0; h < num_heads; ++h) {
      for (int64_t d = 0; d < half; ++d) {
        const int64_t i = r * width + h * head_dim + d;
        const double a = x[i], b = x[i + half];
        const double c = cos[r * half + d], s = sin[r * half + d];
        out[i] = a * c - b * s;
        out[i + half] = b * c + a * s;
      }
    }
  }
  return out;
}

// The exact formulas of tensor/backend.h's Activation.
inline double reference_activation(double x, Activation kind) {
  switch (kind) {
    case Activation::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::kQuickGelu:
      return x / (1.0 + std::exp(-1.702 * x));
    case Activation::kSilu:
      return x / (1.0 + std::exp(-x));
  }
  return x;
}

// The host side of one AttentionBlock: its keys and values [k_count, num_kv_heads * head_dim].
struct HostAttentionBlock {
  int64_t q_begin, q_count, k_count;
  bool causal;
  int64_t offset;           // causal_offset
  std::vector<float> k, v;  // [k_count, kv_heads * dim]
};

// Attention of q [rows, num_heads * head_dim]: the rows of the blocks computed in double (a
// query that sees no key gives zeros); other rows keep `initial`.
inline std::vector<double> reference_attention(const std::vector<float>& q,
                                               const std::vector<HostAttentionBlock>& blocks,
                                               const AttentionParams& p,
                                               const std::vector<float>& initial) {
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  std::vector<double> out(initial.begin(), initial.end());
  for (const HostAttentionBlock& b : blocks) {
    for (int64_t i = 0; i < b.q_count; ++i) {
      const int64_t end =
          b.causal ? std::clamp<int64_t>(i + b.offset + 1, 0, b.k_count) : b.k_count;
      for (int h = 0; h < p.num_heads; ++h) {
        const int g = h / (p.num_heads / p.num_kv_heads);
        const float* qh = &q[(b.q_begin + i) * width + h * p.head_dim];
        std::vector<double> s(end);
        double max = -1e300;
        for (int64_t j = 0; j < end; ++j) {
          double dot = 0.0;
          for (int d = 0; d < p.head_dim; ++d) {
            dot += double(qh[d]) * b.k[j * kv_width + g * p.head_dim + d];
          }
          s[j] = dot * p.scale;
          max = std::max(max, s[j]);
        }
        double sum = 0.0;
        for (double& x : s) sum += (x = std::exp(x - max));
        for (int d = 0; d < p.head_dim; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < end; ++j) acc += s[j] * b.v[j * kv_width + g * p.head_dim + d];
          out[(b.q_begin + i) * width + h * p.head_dim + d] = end > 0 ? acc / sum : 0.0;
        }
      }
    }
  }
  return out;
}

}  // namespace vcap::tensor::testing

#endif  // VCAP_TESTS_TENSOR_REFERENCE_OPS_H_
