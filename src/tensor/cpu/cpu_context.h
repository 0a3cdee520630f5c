// What every CPU kernel needs to know about the machine it runs on: how many OpenMP threads to
// use and which instruction set to pick. Chosen once by the backend (cpu_backend.cpp) from
// BackendOptions and the CPU's features, then passed by value to each kernel.
#ifndef VCAP_TENSOR_CPU_CPU_CONTEXT_H_
#define VCAP_TENSOR_CPU_CPU_CONTEXT_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/status.h"

namespace vcap::tensor::cpu {

struct CpuContext {
  int threads = 1;           // OpenMP threads for every parallel region (and oneDNN)
  bool avx512 = false;       // AVX-512 F/BW/DQ/VL kernels (else the portable scalar ones)
  bool avx512_bf16 = false;  // AVX512-BF16 conversions (implies avx512)
  bool avx2 = false;         // AVX2 + FMA attention where avx512 is off (CPUs without AVX-512)
};

// Number of cores usable by this process (sched_getaffinity), at least 1.
int available_cores();

// The CPU's AVX-512 support, from cpuid (__builtin_cpu_supports).
bool cpu_has_avx512();
bool cpu_has_avx512_bf16();

// 64-byte aligned host memory freed with std::free.
struct FreeDeleter {
  void operator()(std::byte* p) const;
};
using AlignedBytes = std::unique_ptr<std::byte[], FreeDeleter>;

// `bytes` (> 0) of 64-byte aligned memory. kOutOfMemory (naming `what` and the size) when the
// request exceeds the machine's physical memory or the allocator refuses; never aborts.
Result<AlignedBytes> allocate_aligned(size_t bytes, const char* what);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_CPU_CONTEXT_H_
