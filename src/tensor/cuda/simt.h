// The thread-level primitives of the portable kernel bodies (attention_kernels.h), so that one
// kernel source compiles with nvcc for the GPU and with the host compiler for the tests' SIMT
// emulator (tests/tensor/simt_emulator.cpp), which runs each CUDA thread of a block as a host
// thread. That is how the tensor-core attention is checked on machines without a GPU.
//
// Only what the portable kernels need: the thread's rank in its block (1-D blocks), the block
// and warp barriers, a butterfly shuffle within the warp, the bf16 tensor-core product
// mma.sync.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type") and
// the shared-memory loads of its fragments (ldmatrix).
#ifndef VCAP_TENSOR_CUDA_SIMT_H_
#define VCAP_TENSOR_CUDA_SIMT_H_

#include <cmath>
#include <cstdint>
#include <cstring>

// VCAP_UNROLL before a loop over a register array: unrolled, the array stays in registers.
// VCAP_SIMT_COLD_FN: a device function kept out of line, for what a kernel runs rarely after its
// hot loop (inlined, ptxas let its code cost the loop spills); it takes its arguments by value.
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define VCAP_SIMT_FN __device__ __forceinline__
#define VCAP_SIMT_COLD_FN __device__ __noinline__
#define VCAP_HOST_DEVICE __host__ __device__
#define VCAP_UNROLL _Pragma("unroll")
#else
#include <atomic>
#include <bit>
#define VCAP_SIMT_FN inline
#define VCAP_SIMT_COLD_FN inline
#define VCAP_HOST_DEVICE
#define VCAP_UNROLL
#endif

namespace vcap::tensor::cuda::simt {

constexpr int kWarpSize = 32;

// One warp's 16x8 f32 tile c += a * b, a a 16x16 bf16 tile (row-major), b a 16x8 bf16 tile
// (column-major), each thread holding its fragment: with g = lane / 4 and t = lane % 4,
//   a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]
//   a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   b0 = B[2t, 2t+1][g]       b1 = B[2t+8, 2t+9][g]
//   c = C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]
// where each 32-bit word holds two bf16, the lower-indexed element in the low half.
#if defined(__CUDACC__)
VCAP_SIMT_FN int thread_rank() { return static_cast<int>(threadIdx.x); }
VCAP_SIMT_FN void sync_block() { __syncthreads(); }
VCAP_SIMT_FN void sync_warp() { __syncwarp(); }
VCAP_SIMT_FN float shuffle_xor(float x, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, x, lane_mask);
}
VCAP_SIMT_FN uint32_t bits_of(float x) { return __float_as_uint(x); }
VCAP_SIMT_FN float float_of(uint32_t bits) { return __uint_as_float(bits); }
VCAP_SIMT_FN void mma_bf16_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                   uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // bf16 tensor cores need sm_80; the host never launches this kernel below it
#endif
}
// Four 8x8 matrices of 16-bit elements from shared memory (ldmatrix.sync.aligned.m8n8.x4.b16):
// lane 8m + r gives the shared address (shared_address) of row r of matrix m (16 bytes, 16-byte
// aligned), and r[m] of the thread with g = lane / 4, t = lane % 4 receives row g, elements 2t
// and 2t + 1 of matrix m (the lower-indexed in the low half). With .trans (ldmatrix_x4_trans) it
// receives column g, rows 2t and 2t + 1: the B fragment of mma.m16n8k16 from a row-major [k][n]
// tile. Addresses are 32-bit offsets in the shared window, so that a kernel keeps them in one
// register each.
VCAP_SIMT_FN uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
VCAP_SIMT_FN void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
#else
  __trap();
#endif
}
VCAP_SIMT_FN void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
#else
  __trap();
#endif
}
#else
// Defined by the emulator (tests/tensor/simt_emulator.cpp) for the thread that calls them.
int thread_rank();
void sync_block();
void sync_warp();
float shuffle_xor(float x, int lane_mask);
void mma_bf16_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
uint32_t shared_address(const void* p);
void ldmatrix_x4(uint32_t (&r)[4], uint32_t address);
void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address);
inline uint32_t bits_of(float x) { return std::bit_cast<uint32_t>(x); }
inline float float_of(uint32_t bits) { return std::bit_cast<float>(bits); }
#endif

// Four floats loaded or stored as one 16-byte access (CUDA's float4 on the GPU), four words as
// one 16-byte access (uint4), two words as one 8-byte access (uint2), and one word.
#if defined(__CUDACC__)
using Float4 = float4;
using Word4 = uint4;
using Word2 = uint2;
#else
struct alignas(16) Float4 {
  float x, y, z, w;
};
struct alignas(16) Word4 {
  uint32_t x, y, z, w;
};
struct alignas(8) Word2 {
  uint32_t x, y;
};
#endif

VCAP_SIMT_FN Float4 float4_of(float x, float y, float z, float w) { return Float4{x, y, z, w}; }
VCAP_SIMT_FN Word2 word2_of(uint32_t x, uint32_t y) { return Word2{x, y}; }

// Those accesses at an address aligned to their size. On the host they go through memcpy, so
// the emulated kernels may read any element type this way without breaking aliasing rules.
#if defined(__CUDACC__)
VCAP_SIMT_FN uint32_t load_word(const void* p) { return *static_cast<const uint32_t*>(p); }
VCAP_SIMT_FN Float4 load_float4(const void* p) { return *static_cast<const Float4*>(p); }
VCAP_SIMT_FN void store_float4(void* p, Float4 v) { *static_cast<Float4*>(p) = v; }
VCAP_SIMT_FN Word2 load_word2(const void* p) { return *static_cast<const Word2*>(p); }
VCAP_SIMT_FN Word4 load_word4(const void* p) { return *static_cast<const Word4*>(p); }
// As one 64-bit word: nvcc splits a uint2 store whose value it built into two 32-bit stores.
VCAP_SIMT_FN void store_word2(void* p, Word2 v) {
  *static_cast<uint64_t*>(p) = (static_cast<uint64_t>(v.y) << 32) | v.x;
}
#else
inline uint32_t load_word(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Float4 load_float4(const void* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_float4(void* p, Float4 v) { std::memcpy(p, &v, sizeof v); }
inline Word2 load_word2(const void* p) {
  Word2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_word2(void* p, Word2 v) { std::memcpy(p, &v, sizeof v); }
inline Word4 load_word4(const void* p) {
  Word4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#endif

// Asynchronous 16-byte copies from global to shared memory (cp.async, sm_80 on): `valid` false
// writes 16 zero bytes and reads nothing (`global` must still be a mapped address). A thread's
// copies since its last commit form a group; async_copy_wait_all() returns once all of its
// groups have landed, and a block barrier after it makes every thread's copies visible to all.
#if defined(__CUDACC__)
VCAP_SIMT_FN void async_copy_16(void* shared, const void* global, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto address = static_cast<uint32_t>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global),
               "r"(valid ? 16 : 0)
               : "memory");
#else
  __trap();  // the host never launches the pipelined path below sm_80
#endif
}
VCAP_SIMT_FN void async_copy_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
VCAP_SIMT_FN void async_copy_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}
#else
// The emulator's (tests/tensor/simt_emulator.cpp): a copy lands only at the thread's next
// async_copy_wait_all, and its target reads as all-ones until then.
void async_copy_16(void* shared, const void* global, bool valid);
inline void async_copy_commit() {}
void async_copy_wait_all();
#endif

// Device-wide ordering and counting, for the "last block to arrive finishes the job" pattern:
// thread_fence() orders this thread's earlier global stores before its later ones as every
// thread of the device sees them (__threadfence); atomic_add returns the old value; load_l2 reads
// past the multiprocessor's L1 (ld.global.cg), which is not kept coherent with other
// multiprocessors' stores during a launch. In the emulator, blocks run one after another.
#if defined(__CUDACC__)
VCAP_SIMT_FN void thread_fence() { __threadfence(); }
VCAP_SIMT_FN int32_t atomic_add(int32_t* p, int32_t value) { return atomicAdd(p, value); }
VCAP_SIMT_FN float load_l2(const float* p) { return __ldcg(p); }
VCAP_SIMT_FN int32_t load_l2(const int32_t* p) { return __ldcg(p); }
#else
inline void thread_fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline int32_t atomic_add(int32_t* p, int32_t value) {
  return std::atomic_ref<int32_t>(*p).fetch_add(value);
}
inline float load_l2(const float* p) { return *p; }
inline int32_t load_l2(const int32_t* p) { return *p; }
#endif

// Whether this thread block is the last of `parts` blocks to arrive on `counter`, told to every
// thread (the "last block finishes the job" pattern: each block stores its part, the last one
// combines them). Every thread calls it after storing its share: each fences its stores, thread 0
// counts the block, and the last arrival sets the counter back to zero for the next launch and
// fences again, so that the others' parts may be read (past L1: load_l2). `flag`: a word of the
// block's shared memory, free again on return.
VCAP_SIMT_FN bool arrived_last(int32_t* counter, int32_t parts, uint32_t* flag) {
  thread_fence();
  sync_block();  // every thread's stores are fenced
  if (thread_rank() == 0) {
    const bool last = atomic_add(counter, 1) == parts - 1;
    if (last) *counter = 0;
    *flag = last ? 1u : 0u;
  }
  sync_block();
  const bool last = *flag != 0;
  sync_block();  // everyone has read the flag before the caller reuses the word
  if (last) thread_fence();
  return last;
}

// Keeps the compiler from moving memory accesses across this point (no instruction, no wait): a
// batch of loads stays after the stores of the one before, so that the registers in flight stay
// bounded by one batch.
#if defined(__CUDACC__)
VCAP_SIMT_FN void compiler_fence() { asm volatile("" ::: "memory"); }
#else
inline void compiler_fence() {}
#endif

// `x`, which the compiler may no longer treat as known: what is computed from it is computed
// here, not hoisted out of the loop around (where it would hold registers for the whole loop).
#if defined(__CUDACC__)
VCAP_SIMT_FN int opaque(int x) {
  asm volatile("" : "+r"(x));
  return x;
}
#else
inline int opaque(int x) { return x; }
#endif

// Sum and max of `x` over the 32 threads of the warp, returned to every thread.
VCAP_SIMT_FN float warp_sum(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x += shuffle_xor(x, offset);
  return x;
}

VCAP_SIMT_FN float warp_max(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x = fmaxf(x, shuffle_xor(x, offset));
  return x;
}

// f32 -> bf16 bits, round to nearest even, NaN kept quiet: the same bits as tensor::f32_to_bf16.
VCAP_SIMT_FN uint32_t bf16_bits(float value) {
  const uint32_t bits = bits_of(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits >> 16) | 0x40u;
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return (bits + rounding) >> 16;
}

// Two values as one word of bf16 pairs: `low` in bits 0-15.
VCAP_SIMT_FN uint32_t bf16_pair(float low, float high) {
  return bf16_bits(low) | (bf16_bits(high) << 16);
}

// bf16_pair in one instruction on the GPU (cvt.rn.bf16x2.f32, sm_80 on), where bf16_bits takes
// about eight: the same bits for every number; a NaN stays a NaN, its payload not kept. For the
// attention's operands, converted by the thousand per tile.
VCAP_SIMT_FN uint32_t bf16_pair_fast(float low, float high) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t word;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(word) : "f"(high), "f"(low));
  return word;
#else
  return bf16_pair(low, high);
#endif
}

}  // namespace vcap::tensor::cuda::simt

#endif  // VCAP_TENSOR_CUDA_SIMT_H_
