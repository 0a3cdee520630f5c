// Argument checks of the Backend ops and the size checks of allocate / prepare_weight, shared by
// every backend so that all of them reject the same calls with the same messages.
//
// An op's check aborts via VCAP_CHECK with "[op] what: shapes" (e.g. "[matmul] shapes differ:
// out [2,4] in [2,5] W [4,3]"): a mismatch is a programmer error in the caller, never a
// bad-input path (tensor/backend.h). The checks read only the views' metadata, never `data`, so
// they are the same for host and device memory. A backend calls the check of an op first, then
// adds the limits of its own kernels (e.g. the CUDA attention's largest head_dim).
//
// For implementations of Backend only; model code never calls these.
#ifndef VCAP_TENSOR_OP_CHECKS_H_
#define VCAP_TENSOR_OP_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "base/status.h"
#include "tensor/backend.h"

namespace vcap::tensor {

// "[rows,cols]".
std::string shape(int64_t rows, int64_t cols);
std::string shape(TensorView v);

// Aborts with "[op] what". A check whose message is built calls it as `if (!ok) fail(...)`, so
// that the message costs nothing while the check passes: every op runs these checks, and a
// GPU decode step queues hundreds of ops.
[[noreturn]] void fail(const char* op, const std::string& what);
// Aborts with "[op] what" unless `condition`.
void require(bool condition, const char* op, const char* what);

// A valid view (tensor.h): rows, cols >= 0, row_stride >= cols, data non-null when non-empty.
// `name` is the argument's name in the message ("in", "out", ...).
void require_valid(TensorView v, const char* op, const char* name);

// f32 and valid.
void require_f32(TensorView v, const char* op, const char* name);
// f32 or bf16 (a bf16 matmul input, backend.h) and valid: the outputs that may be either.
void require_f32_or_bf16(TensorView v, const char* op, const char* name);

// Same rows and cols (strides may differ).
void require_same_shape(TensorView a, TensorView b, const char* op);

// --- One check per op, named after it (see Backend for each op's contract) ------------------

void require_upload(TensorView dst, const HostMatrix& host);
void require_download(TensorView src, std::span<const float> host);
void require_matmul(TensorView out, TensorView in, const Weight& w,
                    const std::optional<TensorView>& bias);
void require_gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids);
void require_layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias);
void require_rms_norm(TensorView out, TensorView in, TensorView weight);
void require_rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim);
void require_attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                       const AttentionParams& params);
void require_activation(TensorView out, TensorView in);
void require_silu_mul(TensorView out, TensorView gate, TensorView up);
void require_add(TensorView inout, TensorView other);
void require_copy(TensorView dst, TensorView src);
void require_copy_batch(std::span<const CopyPair> pairs);
void require_copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows);
void require_process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                            std::span<const LargestScore> largest);

// --- Sizes: bad requests here are Statuses, not aborts ---------------------------------------
// `backend` (Backend::name(), e.g. "cpu" or "cuda:0") begins each message.

// Bytes of a new [rows, cols] tensor of `dtype` (Backend::allocate). Errors: kInvalidArgument
// for negative sizes, kOutOfMemory when the size overflows size_t.
Result<size_t> allocation_bytes(const std::string& backend, DType dtype, int64_t rows,
                                int64_t cols);

// "weight [rows,cols] <host dtype> -> <precision>", for the messages of prepare_weight.
std::string weight_description(const HostMatrix& host, Precision precision);

// Bytes of `host` prepared with `precision` (Backend::prepare_weight). Errors: kInvalidArgument
// for an empty matrix or null data, kOutOfMemory when the size overflows size_t.
Result<size_t> weight_bytes(const std::string& backend, const HostMatrix& host,
                            Precision precision);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_OP_CHECKS_H_
