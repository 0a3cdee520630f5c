#include "tensor/op_checks.h"

#include <cstdlib>
#include <limits>

#include "base/check.h"

namespace vcap::tensor {

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

void fail(const char* op, const std::string& what) {
  VCAP_CHECK(false, (std::string("[") + op + "] " + what).c_str());
  std::abort();  // not reached: VCAP_CHECK(false) aborts
}

void require(bool condition, const char* op, const char* what) {
  if (!condition) fail(op, what);
}

void require_valid(TensorView v, const char* op, const char* name) {
  if (!(v.rows >= 0 && v.cols >= 0 && v.row_stride >= v.cols &&
        (v.data != nullptr || v.num_elements() == 0))) {
    fail(op, std::string(name) + " is not a valid view " + shape(v));
  }
}

void require_f32(TensorView v, const char* op, const char* name) {
  if (v.dtype != DType::kF32) fail(op, std::string(name) + " must be f32");
  require_valid(v, op, name);
}

void require_f32_or_bf16(TensorView v, const char* op, const char* name) {
  if (!(v.dtype == DType::kF32 || v.dtype == DType::kBF16)) {
    fail(op, std::string(name) + " must be f32 or bf16");
  }
  require_valid(v, op, name);
}

void require_same_shape(TensorView a, TensorView b, const char* op) {
  if (!(a.rows == b.rows && a.cols == b.cols)) {
    fail(op, "shapes differ: " + shape(a) + " vs " + shape(b));
  }
}

void require_upload(TensorView dst, const HostMatrix& host) {
  if (!(host.rows == dst.rows && host.cols == dst.cols)) {
    fail("upload", "host " + shape(host.rows, host.cols) + " vs dst " + shape(dst));
  }
  require(host.data != nullptr || dst.num_elements() == 0, "upload", "null host data");
  require_valid(dst, "upload", "dst");
}

void require_download(TensorView src, std::span<const float> host) {
  if (!(static_cast<int64_t>(host.size()) == src.rows * src.cols)) {
    fail("download", "host size " + std::to_string(host.size()) + " vs src " + shape(src));
  }
  require_valid(src, "download", "src");
}

void require_matmul(TensorView out, TensorView in, const Weight& w,
                    const std::optional<TensorView>& bias) {
  require(!w.empty(), "matmul", "empty weight");
  const auto what = [&] {
    std::string text = "out " + shape(out);
    text += " in " + shape(in);
    text += " W " + shape(w.out_features(), w.in_features());
    return text;
  };
  if (out.dtype != DType::kF32) fail("matmul", "out must be f32: " + what());
  if (!(in.dtype == DType::kF32 || (in.dtype == DType::kBF16 && w.dtype() == DType::kBF16))) {
    fail("matmul", "in must be f32, or bf16 with a bf16 weight: " + what());
  }
  if (!(in.cols == w.in_features() && out.cols == w.out_features() && in.rows == out.rows &&
        in.rows >= 1)) {
    fail("matmul", "shapes differ: " + what());
  }
  if (!(in.row_stride >= in.cols && out.row_stride >= out.cols)) {
    fail("matmul", "invalid view: " + what());
  }
  if (bias) {
    if (!(bias->dtype == DType::kF32 && bias->rows == 1 && bias->cols == out.cols)) {
      fail("matmul", "bias must be f32 [1, out_features]: " + what());
    }
  }
}

void require_gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) {
  require_f32(out, "gather_rows", "out");
  if (!(out.rows == static_cast<int64_t>(ids.size()) && out.cols == table.in_features())) {
    fail("gather_rows", "out " + shape(out) + " vs " + std::to_string(ids.size()) +
                            " ids x table cols " + std::to_string(table.in_features()));
  }
  for (const int32_t id : ids) {
    if (!(id >= 0 && id < table.out_features())) {
      fail("gather_rows", "id " + std::to_string(id) + " outside the table's " +
                              std::to_string(table.out_features()) + " rows");
    }
  }
}

namespace {

// in/out [rows, cols] f32, weight [1, cols] f32, cols > 0: what both norms share.
void require_norm(TensorView out, TensorView in, TensorView weight, const char* op) {
  require_f32_or_bf16(out, op, "out");
  require_f32(in, op, "in");
  require_f32(weight, op, "weight");
  require_same_shape(out, in, op);
  if (!(weight.rows == 1 && weight.cols == in.cols && in.cols > 0)) {
    fail(op, "weight " + shape(weight) + " vs in " + shape(in));
  }
}

}  // namespace

void require_layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias) {
  require_norm(out, in, weight, "layer_norm");
  require_f32(bias, "layer_norm", "bias");
  if (!(bias.rows == 1 && bias.cols == in.cols)) fail("layer_norm", "bias " + shape(bias));
}

void require_rms_norm(TensorView out, TensorView in, TensorView weight) {
  require_norm(out, in, weight, "rms_norm");
}

void require_rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) {
  require_f32(x, "rotary", "x");
  require_f32(cos, "rotary", "cos");
  require_f32(sin, "rotary", "sin");
  if (!(head_dim > 0 && head_dim % 2 == 0 && num_heads > 0 &&
        x.cols == static_cast<int64_t>(num_heads) * head_dim)) {
    fail("rotary", "x " + shape(x) + " vs " + std::to_string(num_heads) + " heads of " +
                       std::to_string(head_dim));
  }
  if (!(cos.rows == x.rows && cos.cols == head_dim / 2)) fail("rotary", "cos " + shape(cos));
  require_same_shape(cos, sin, "rotary");
}

void require_attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                       const AttentionParams& params) {
  require_f32_or_bf16(out, "attention", "out");
  require_f32(q, "attention", "q");
  require(params.num_heads > 0 && params.num_kv_heads > 0 && params.head_dim > 0 &&
              params.num_heads % params.num_kv_heads == 0,
          "attention", "bad head counts");
  const int64_t width = static_cast<int64_t>(params.num_heads) * params.head_dim;
  const int64_t kv_width = static_cast<int64_t>(params.num_kv_heads) * params.head_dim;
  if (q.cols != width) fail("attention", "q " + shape(q) + " vs heads x head_dim");
  require_same_shape(out, q, "attention");
  for (const AttentionBlock& block : blocks) {
    if (!(block.q_begin >= 0 && block.q_count >= 0 && block.q_begin + block.q_count <= q.rows)) {
      fail("attention", "block rows outside q " + shape(q));
    }
    require_valid(block.k, "attention", "k");
    require_valid(block.v, "attention", "v");
    require(block.k.dtype == block.v.dtype, "attention", "k and v dtypes differ");
    if (!(block.k.cols == kv_width && block.v.cols == kv_width)) {
      fail("attention", "k " + shape(block.k) + " v " + shape(block.v) + " vs kv heads x head_dim");
    }
    require(block.k.rows == block.v.rows, "attention", "k and v rows differ");
  }
}

void require_activation(TensorView out, TensorView in) {
  require_f32_or_bf16(out, "activation", "out");
  require_f32(in, "activation", "in");
  require_same_shape(out, in, "activation");
}

void require_silu_mul(TensorView out, TensorView gate, TensorView up) {
  require_f32_or_bf16(out, "silu_mul", "out");
  require_f32(gate, "silu_mul", "gate");
  require_f32(up, "silu_mul", "up");
  require_same_shape(out, gate, "silu_mul");
  require_same_shape(out, up, "silu_mul");
}

void require_add(TensorView inout, TensorView other) {
  require_f32(inout, "add", "inout");
  require_f32(other, "add", "other");
  require_same_shape(inout, other, "add");
}

namespace {

// Any dtypes: copy converts between f32 and bf16.
void require_copyable(TensorView dst, TensorView src, const char* op) {
  require_valid(dst, op, "dst");
  require_valid(src, op, "src");
  require_same_shape(dst, src, op);
}

}  // namespace

void require_copy(TensorView dst, TensorView src) { require_copyable(dst, src, "copy"); }

void require_copy_batch(std::span<const CopyPair> pairs) {
  for (const CopyPair& pair : pairs) {
    require_copyable(pair.dst, pair.src, "copy_batch");
    require(pair.dst.dtype == pairs[0].dst.dtype && pair.src.dtype == pairs[0].src.dtype,
            "copy_batch", "the pairs' dtypes differ");
  }
}

void require_copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) {
  require_f32(dst, "copy_rows", "dst");
  require_f32(src, "copy_rows", "src");
  if (!(dst.cols == src.cols && static_cast<int64_t>(dst_rows.size()) == src.rows)) {
    fail("copy_rows", "dst " + shape(dst) + " src " + shape(src) + " with " +
                          std::to_string(dst_rows.size()) + " row indices");
  }
  for (const int64_t row : dst_rows) {
    if (!(row >= 0 && row < dst.rows)) {
      fail("copy_rows", "row " + std::to_string(row) + " outside dst " + shape(dst));
    }
  }
}

void require_process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                            std::span<const LargestScore> largest) {
  require_f32(scores, "process_scores", "scores");
  if (!(static_cast<int64_t>(rules.size()) == scores.rows && largest.size() == rules.size())) {
    fail("process_scores", "scores " + shape(scores) + " with " + std::to_string(rules.size()) +
                               " rules and " + std::to_string(largest.size()) + " results");
  }
  // The CUDA kernel's int32 column indices run up to a part (4096 columns) past the last one.
  require(scores.cols <= (int64_t{1} << 30), "process_scores", "more than 2^30 columns");
  for (const ScoreRowRule& rule : rules) {
    require(rule.penalty > 0.0f && rule.divisor > 0.0f, "process_scores",
            "penalty and divisor must be > 0");
    for (const int32_t id : rule.penalized) {
      if (!(id >= 0 && id < scores.cols)) {
        fail("process_scores", "id " + std::to_string(id) + " outside scores " + shape(scores));
      }
    }
  }
}

namespace {

// Bytes of a rows x cols matrix of `element` bytes, or nullopt on overflow / negative sizes.
// Half of size_t's range at most, so that offsets and byte differences stay representable.
std::optional<size_t> matrix_bytes(int64_t rows, int64_t cols, size_t element) {
  if (rows < 0 || cols < 0) return std::nullopt;
  const auto limit = std::numeric_limits<size_t>::max() / 2;
  if (rows != 0 && static_cast<size_t>(cols) > limit / static_cast<size_t>(rows) / element) {
    return std::nullopt;
  }
  return static_cast<size_t>(rows) * static_cast<size_t>(cols) * element;
}

}  // namespace

Result<size_t> allocation_bytes(const std::string& backend, DType dtype, int64_t rows,
                                int64_t cols) {
  std::string what = backend + ": allocate ";
  what += dtype_name(dtype);
  what += " ";
  what += shape(rows, cols);
  if (rows < 0 || cols < 0) return Status::invalid_argument(what);
  const auto bytes = matrix_bytes(rows, cols, dtype_size(dtype));
  if (!bytes) return Status::out_of_memory(what + ": size overflows");
  return *bytes;
}

std::string weight_description(const HostMatrix& host, Precision precision) {
  std::string text = "weight " + shape(host.rows, host.cols);
  text += " ";
  text += host_dtype_name(host.dtype);
  text += " -> ";
  text += precision_name(precision);
  return text;
}

Result<size_t> weight_bytes(const std::string& backend, const HostMatrix& host,
                            Precision precision) {
  const std::string what = backend + ": prepare " + weight_description(host, precision);
  if (host.rows <= 0 || host.cols <= 0 || host.data == nullptr) {
    return Status::invalid_argument(what + ": empty matrix or null data");
  }
  const auto bytes = matrix_bytes(host.rows, host.cols, dtype_size(weight_dtype(precision)));
  if (!bytes) return Status::out_of_memory(what + ": size overflows");
  return *bytes;
}

}  // namespace vcap::tensor
