// Backend: the device interface the model is written against. It allocates device memory,
// moves data to and from the host, prepares weights and runs ~15 coarse ops on 2-D views.
// The model never sees a kernel, a device pointer's contents or a device type: it calls these
// ops in order (eager execution) and the backend decides how to run them.
//
// Common contract of all ops (REQUIRES unless said otherwise):
//  - Views are valid (tensor.h) and point into memory of this backend.
//  - Activations, norm weights, biases, cos/sin tables and K/V are kF32; only Weights (and
//    tensors made explicitly with DType::kBF16 for copy) are bf16. One exception, "bf16
//    matmul inputs": the `out` of layer_norm, rms_norm, activation, silu_mul and attention may
//    be bf16, holding the f32 result rounded to nearest even, and matmul takes such a bf16 `in`
//    with a bf16 weight. A bf16 matmul rounds its input to bf16 anyway, so the op that produces
//    it writes it rounded: the same values, without the rounding pass and with half the bytes
//    written and read (memory traffic is what these ops cost on a GPU).
//  - Outputs do not overlap inputs unless the op says "in place" or "may alias".
//  - Shapes are checked at the top of each op. A mismatch is a programmer error in the caller
//    and aborts via VCAP_CHECK with the op name and the shapes; it is never a bad-input path.
//  - Ops are asynchronous on a GPU backend: they are ordered on one stream, and errors found by
//    the device while running them (other than shape checks) are returned by the next
//    synchronize(). The CPU backend runs them to completion before returning.
//  - Floating-point: all arithmetic and accumulation in f32 (bf16 matmul: products of bf16
//    values accumulated in f32). No fast-math: results stay within the per-op tolerances of the
//    tests (tests/tensor) against a double-precision reference.
// Thread safety: a Backend is used by one thread at a time (it may use many threads inside).
#ifndef VCAP_TENSOR_BACKEND_H_
#define VCAP_TENSOR_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/status.h"
#include "tensor/dtype.h"
#include "tensor/scores.h"
#include "tensor/tensor.h"

namespace vcap::tensor {

// What matmul does with the previous contents of `out`.
enum class MatmulAccumulate {
  kOverwrite,  // out = in * W^T (+ bias)
  kAddToOut,   // out = out + in * W^T (+ bias): fuses a residual add into the GEMM
};

// Elementwise activations (exact formulas; computed in f32).
enum class Activation {
  kGeluErf,    // 0.5 * x * (1 + erf(x / sqrt(2)))     (vision merger, "gelu")
  kQuickGelu,  // x * sigmoid(1.702 * x)                (vision MLP, "quick_gelu")
  kSilu,       // x * sigmoid(x)                        (LLM MLP, "silu")
};

// Shape of multi-head attention.
struct AttentionParams {
  int num_heads = 0;     // query heads; q and out have num_heads * head_dim columns
  int num_kv_heads = 0;  // key/value heads; divides num_heads (GQA; == num_heads for MHA)
  int head_dim = 0;      // features per head
  float scale = 0.0f;    // multiplies q.k before softmax (1/sqrt(head_dim) for Qwen2-VL)
  // true: q, k, v and the softmax weights may be rounded to bf16 (round to nearest even) for
  // the two products, which still accumulate in f32, as the reference's bf16 attention does. A
  // backend may ignore it (it then computes in f32); false (the f32 parity path) never rounds.
  bool bf16_products = false;
};

// One independent attention problem inside a batch of query rows: queries q rows
// [q_begin, q_begin + q_count) attend to the keys/values rows of k and v.
//  - Vision: one block per cu_seqlens segment, causal = false, k/v = the same rows of the fused
//    qkv activations (column slices).
//  - LLM: one block per sequence, causal = true, k/v = that sequence's KV cache rows
//    [0, past + q_count), causal_offset = past (number of cached tokens before the queries).
struct AttentionBlock {
  int64_t q_begin = 0;
  int64_t q_count = 0;
  // [k_count, num_kv_heads * head_dim], may be strided; f32, or both bf16 (the bf16 model's KV
  // cache, as the reference keeps it).
  TensorView k;
  TensorView v;
  bool causal = false;
  // When causal: query i of the block (0-based) sees keys j <= i + causal_offset.
  int64_t causal_offset = 0;
};

// Host floats made by Backend::allocate_host, released by its own function. Move-only.
class HostBuffer {
 public:
  using Release = void (*)(float*);
  HostBuffer() = default;
  HostBuffer(float* data, size_t size, Release release) : data_(data, release), size_(size) {}
  std::span<float> span() const { return {data_.get(), size_}; }

 private:
  std::unique_ptr<float, Release> data_{nullptr, nullptr};
  size_t size_ = 0;
};

// One copy of Backend::copy_batch.
struct CopyPair {
  TensorView dst;
  TensorView src;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda:0" etc., for logs and benchmark reports.
  virtual std::string name() const = 0;

  // --- Memory -------------------------------------------------------------------------------

  // A new contiguous [rows, cols] tensor with unspecified contents.
  // Errors: kInvalidArgument for negative sizes; kOutOfMemory (message names the shape and
  // the bytes) when the memory cannot be had. Never aborts on a large request.
  virtual Result<Tensor> allocate(DType dtype, int64_t rows, int64_t cols) = 0;

  // dst = host, where host holds dst.rows * dst.cols values row-major (contiguous), of the type
  // given by host.dtype; converted to dst.dtype (f32 -> bf16 rounds to nearest even).
  // REQUIRES: host.rows == dst.rows, host.cols == dst.cols.
  virtual void upload(TensorView dst, const HostMatrix& host) = 0;

  // Convenience: upload of row-major f32 values. REQUIRES: host.size() == dst.rows * dst.cols.
  void upload(TensorView dst, std::span<const float> host);

  // host = src converted to f32, row-major, contiguous.
  // REQUIRES: host.size() == src.rows * src.cols.
  virtual void download(TensorView src, std::span<float> host) = 0;

  // Converts `host` [out_features, in_features] once into this backend's layout, stored in
  // weight_dtype(precision) (f32 widens bf16/f16 exactly; bf16 rounds f32/f16 to nearest even).
  // Keeps no reference to host.data. Errors: kInvalidArgument for an empty matrix or null data,
  // kOutOfMemory when the weight does not fit.
  virtual Result<Weight> prepare_weight(const HostMatrix& host, Precision precision) = 0;

  // --- Linear algebra -------------------------------------------------------------------------

  // out[r][o] = sum_i in[r][i] * W[o][i] (+ bias[0][o]) (+ out[r][o] if kAddToOut).
  // in: [rows, in_features] f32; out: [rows, out_features] f32; bias: [1, out_features] f32.
  // With a bf16 weight, `in` is rounded to bf16 first (as the reference's bf16 Linear does) and
  // products accumulate in f32; the bias is added in f32. With a bf16 weight `in` may also be
  // bf16 (already rounded, see the file comment): the same result as its values in f32.
  // REQUIRES: out does not overlap in; rows >= 1.
  virtual void matmul(TensorView out, TensorView in, const Weight& w,
                      std::optional<TensorView> bias = std::nullopt,
                      MatmulAccumulate accumulate = MatmulAccumulate::kOverwrite) = 0;

  // out[r][c] = table[ids[r]][c] converted to f32 (the embedding lookup).
  // out: [ids.size(), table.in_features()] f32. Aborts (VCAP_CHECK) on an id outside
  // [0, table.out_features()): the model validates token ids before calling.
  virtual void gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) = 0;

  // --- Normalisation (per row, statistics in f32) ---------------------------------------------

  // out = (in - mean) / sqrt(var + eps) * weight + bias, mean/var (biased) over the row.
  // in/out: [rows, cols]; weight/bias: [1, cols]. out may alias in (same view); out may be bf16.
  virtual void layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias,
                          float eps) = 0;

  // out = in / sqrt(mean(in^2) + eps) * weight. (The reference rounds the normalised value to
  // the activation dtype before multiplying by weight; with f32 activations that is a no-op.)
  // in/out: [rows, cols]; weight: [1, cols]. out may alias in (same view); out may be bf16.
  virtual void rms_norm(TensorView out, TensorView in, TensorView weight, float eps) = 0;

  // --- Positional encoding -------------------------------------------------------------------

  // In-place rotary embedding (spec 8.2 vision 2-D rotary, 10.3 M-RoPE; the model computes the
  // angles, the backend rotates). With half = head_dim / 2, for every row r, head h and d < half:
  //   a = x[r][h*head_dim + d], b = x[r][h*head_dim + d + half], c = cos[r][d], s = sin[r][d]
  //   x[r][h*head_dim + d]        = a * c - b * s
  //   x[r][h*head_dim + d + half] = b * c + a * s
  // x: [rows, num_heads * head_dim] (usually a column slice of qkv); cos, sin: [rows, half].
  // REQUIRES: head_dim even.
  virtual void rotary(TensorView x, TensorView cos, TensorView sin, int num_heads,
                      int head_dim) = 0;

  // --- Attention -----------------------------------------------------------------------------

  // Scaled dot-product attention per block (see AttentionBlock) and per query head h, using kv
  // head g = h / (num_heads / num_kv_heads):
  //   s_j = scale * q[r][h] . k[j][g]   over the keys j the query may see,
  //   out[r][h] = sum_j softmax(s)_j * v[j][g]        (softmax in f32)
  // q, out: [rows, num_heads * head_dim] (q may be a strided column slice); only the rows of
  // the blocks are written; out may be bf16. A query that sees no key (causal,
  // i + causal_offset < 0) gets zeros.
  // Never materialises a q_count x k_count score matrix; cost is linear in memory.
  // REQUIRES: blocks lie inside q's rows and do not overlap; out does not overlap q, k or v.
  virtual void attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                         const AttentionParams& params) = 0;

  // Whether attention with `params` runs on this backend: kUnsupported saying why, and what to
  // use instead, where it does not (a GPU's per-block shared memory, say). The model asks when
  // it loads, so that a run is refused before its first clip instead of failing every clip.
  virtual Status check_attention(const AttentionParams& params) const {
    (void)params;
    return Status();
  }

  // --- Elementwise ---------------------------------------------------------------------------

  // out = f(in), see Activation. Same shape; out may alias in (same view) or be bf16.
  virtual void activation(TensorView out, TensorView in, Activation kind) = 0;

  // out = silu(gate) * up (SwiGLU). All [rows, cols]; gate/up are usually column slices of one
  // fused gate_up matmul output. out may alias gate or up (same view), or be bf16.
  virtual void silu_mul(TensorView out, TensorView gate, TensorView up) = 0;

  // inout += other. Same shape.
  virtual void add(TensorView inout, TensorView other) = 0;

  // dst = src, same shape, any strides; converts between f32 and bf16 when dtypes differ
  // (f32 -> bf16 rounds to nearest even). dst must not overlap src.
  virtual void copy(TensorView dst, TensorView src) = 0;

  // copy(pair.dst, pair.src) for every pair, as one op (a GPU runs one kernel for them all): the
  // KV-cache appends of every sequence of a batch, which would otherwise cost two launches per
  // sequence and layer in each decode step. All dsts share one dtype, all srcs one; no dst
  // overlaps any other view of the batch.
  virtual void copy_batch(std::span<const CopyPair> pairs) = 0;

  // dst row dst_rows[i] = src row i, for every i (a scatter, e.g. vision features into the
  // <|video_pad|> rows of the embeddings). Same cols; f32.
  // REQUIRES: dst_rows.size() == src.rows, every index in [0, dst.rows).
  virtual void copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) = 0;

  // --- Scores ---------------------------------------------------------------------------------

  // Processes every row r of `scores` [rows, cols] in place by rules[r] and writes where its
  // largest value lies to largest[r] (tensor/scores.h). Every backend gives process_score_row's
  // numbers exactly: the op is one rounding per score and exact comparisons. Returns once
  // `largest` is written (a GPU first runs the ops queued before); the processed scores stay in
  // `scores` for a download. A decode step's token usually follows from these numbers alone, so
  // a GPU sends them to the host instead of the whole vocabulary.
  // REQUIRES: scores f32; rules.size() == largest.size() == scores.rows; each rule's ids
  // distinct and inside the row; penalty and divisor > 0.
  virtual void process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                              std::span<LargestScore> largest) = 0;

  // --- Synchronisation -----------------------------------------------------------------------

  // Waits until all previous ops are done. Returns the first device error since the last call
  // (kOutOfMemory, kInternal); always ok on the CPU backend.
  virtual Status synchronize() = 0;

  // --- Memory ---------------------------------------------------------------------------------

  // Free bytes of the device memory this backend's tensors come from, when a device has its
  // own (a GPU); nullopt when tensors live in host memory, whose free share the caller reads
  // from the machine. The working-memory budget of a run is a share of it.
  virtual std::optional<uint64_t> device_memory_free() { return std::nullopt; }

  // `count` floats of host memory for the destination of downloads made again and again (the
  // logits rows process_scores did not decide): page-locked on a GPU, which then copies into it at
  // the link's full rate instead of through a bounce buffer; plain memory here. Errors:
  // kOutOfMemory.
  virtual Result<HostBuffer> allocate_host(size_t count);

  // --- Host work ------------------------------------------------------------------------------

  // Runs body(i) for every i in [0, count) on the host, in parallel, and returns when all are
  // done: the host's share of a step (choosing each sequence's next token). The CPU backend
  // hands it to its OpenMP threads, which spin between ops: a thread of our own would wait
  // behind them (0.3-0.7 ms per extra thread on 2 cores). By default, a thread per index past
  // the first (none when the system has none to give). `body` must not throw.
  virtual void parallel_for_host(int64_t count, const std::function<void(int64_t)>& body);
};

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_BACKEND_H_
