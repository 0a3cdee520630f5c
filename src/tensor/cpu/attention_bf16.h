// The AVX512-BF16 inner loop of the CPU attention (attention.cpp), used when
// AttentionParams::bf16_products is set and the CPU has AVX512_BF16: the same tiling and online
// softmax as attention_avx512.h, but both products (Q.K^T and P.V) run as bf16 pair dot
// products (vdpbf16ps) with f32 accumulation, about twice the f32 FMA rate.
//
// Rounding: q, k, v and the softmax weights p = exp(s - max) are rounded to bf16 (nearest
// even) before the products; the scores, running max, running sum (of the unrounded p) and the
// output accumulators stay f32.
#ifndef VCAP_TENSOR_CPU_ATTENTION_BF16_H_
#define VCAP_TENSOR_CPU_ATTENTION_BF16_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/backend.h"

namespace vcap::tensor::cpu {

// 32-bit words from a 64-byte aligned start that grow without being zeroed: the packing writes
// every word the kernel reads, and zeroing megabytes of fresh memory per call costs ~1%.
class PackedWords {
 public:
  // Room for at least `count` words (contents unspecified after growth); returns the start.
  uint32_t* resize(size_t count);
  uint32_t* data() { return start_; }
  const uint32_t* data() const { return start_; }

 private:
  std::unique_ptr<uint32_t[]> storage_;
  size_t capacity_ = 0;  // words in storage_
  uint32_t* start_ = nullptr;
};

// Keys and values of one block in the layout of the bf16 kernel (as bf16 pairs, see
// attention_bf16.cpp), packed once per call and then shared read-only by all tasks of the block.
struct Bf16KeyValues {
  int64_t key_rows = 0;    // k_count rounded up to a multiple of 4 (zero rows past k_count)
  int64_t value_rows = 0;  // ceil(k_count / 2)
  PackedWords keys;        // [num_kv_heads][key_rows][head_dim / 2]
  PackedWords values;      // [num_kv_heads][value_rows][head_dim]
};

// Sizes `kv` for `block` (reusing its memory); then pack_bf16_key_pair must run for every pair
// index in [0, kv.value_rows), from any threads. block.k and block.v may each be kF32 (rounded
// to bf16, nearest even, when packed) or kBF16 (its bits copied as they are: the bf16 KV cache).
void resize_bf16_key_values(const AttentionBlock& block, const AttentionParams& params,
                            Bf16KeyValues& kv);

// Packs keys and values 2 * pair and 2 * pair + 1 (when < k_count) of every kv head.
// REQUIRES: the CPU has AVX512_BF16; attention_bf16_supports(params).
void pack_bf16_key_pair(const AttentionBlock& block, const AttentionParams& params, int64_t pair,
                        Bf16KeyValues& kv);

// Per-thread buffers reused between the tasks of one thread.
struct AttentionBf16Scratch {
  std::vector<float> values;     // scores, softmax state, output accumulators
  std::vector<uint32_t> packed;  // bf16 pairs of q and p
};

// True when the bf16 kernel handles these params: head_dim a multiple of 16, <= 256, and
// scale > 0 (the running max is taken over the unscaled scores).
bool attention_bf16_supports(const AttentionParams& params);

// True when a block has enough queries per kv head (q_count * num_heads / num_kv_heads >= 16,
// one vector) to repay packing all its keys and values; a decode step (one row, 6 query heads
// per kv head in Qwen2-VL-2B) is faster on a kernel that reads K and V as they are
// (attention_decode.h over a bf16 cache, else the f32 kernel).
bool attention_bf16_pays_off(const AttentionBlock& block, const AttentionParams& params);

// For each lane l < lanes: out[l] = softmax(scale * q[l] . K[j]) V over keys j < end[l] of kv
// head `kv_head` (zeros when end[l] == 0), with bf16 products as above; K and V come packed in
// `kv`. max_end = max of end. REQUIRES: the CPU has AVX-512 F/BW/DQ/VL and AVX512_BF16.
void attention_task_bf16(const float* const* q, float* const* out, const int64_t* end,
                         int64_t lanes, int64_t max_end, const Bf16KeyValues& kv, int kv_head,
                         const AttentionParams& params, AttentionBf16Scratch& scratch);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_BF16_H_
