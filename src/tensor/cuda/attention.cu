#include "tensor/cuda/attention.h"

#include <atomic>
#include <cstdint>

#include "tensor/cuda/attention_f32.h"
#include "tensor/cuda/attention_kernels.h"
#include "tensor/cuda/attention_mma.h"

namespace vcap::tensor::cuda {
namespace {

constexpr int kThreads = kAttentionThreads;

template <int kSlots>
__global__ void __launch_bounds__(kThreads) attention_f32_kernel(const AttentionLaunch args) {
  extern __shared__ float4 shared4[];
  attention_f32_block<kSlots>(args, static_cast<int>(blockIdx.x),
                              reinterpret_cast<float*>(shared4));
}

template <int kDim, bool kWarpKeys>
__global__ void __launch_bounds__(kThreads, attention_mma_blocks_per_sm(kDim))
    attention_mma_kernel(const AttentionLaunch args) {
  extern __shared__ __align__(16) uint32_t shared_words[];  // 16-byte cp.async targets
  attention_mma_block<kDim, kWarpKeys>(args, static_cast<int>(blockIdx.x), shared_words);
}

template <int kDim, bool kWarpKeys>
cudaError_t launch_mma(cudaStream_t stream, const AttentionLaunch& launch) {
  constexpr size_t kShared = attention_mma_shared_bytes(kDim);
  // 69 KB at head_dim 128 (two blocks per multiprocessor fit sm_80's 164 KB and sm_90's 228 KB);
  // above 48 KB a kernel must opt in.
  static_assert(kShared * attention_mma_blocks_per_sm(kDim) <= 160 * 1024);
  if constexpr (kShared > 48 * 1024) {
    // Once per device (the attribute is the current device's): the call costs host time on
    // every one of a decode step's launches otherwise. Assumes the device's context lives as
    // long as the process (vcap never resets a device; a reset would drop the attribute).
    static std::atomic<uint64_t> devices_done{0};
    int device = 0;
    if (const cudaError_t error = cudaGetDevice(&device); error != cudaSuccess) return error;
    const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
    if ((devices_done.load(std::memory_order_acquire) & bit) == 0 || bit == 0) {
      const cudaError_t error = cudaFuncSetAttribute(attention_mma_kernel<kDim, kWarpKeys>,
                                                     cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                     static_cast<int>(kShared));
      if (error != cudaSuccess) return error;
      devices_done.fetch_or(bit, std::memory_order_release);
    }
  }
  attention_mma_kernel<kDim, kWarpKeys><<<launch.item_count, kThreads, kShared, stream>>>(launch);
  return cudaGetLastError();
}

template <int kSlots>
cudaError_t launch_f32_slots(cudaStream_t stream, const AttentionLaunch& launch) {
  const size_t shared = AttentionF32Layout(launch.head_dim).bytes();
  // Above 48 KB a kernel must opt in to more dynamic shared memory.
  const cudaError_t error =
      cudaFuncSetAttribute(attention_f32_kernel<kSlots>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  if (error != cudaSuccess) return error;
  attention_f32_kernel<kSlots><<<launch.item_count, kThreads, shared, stream>>>(launch);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_attention(cudaStream_t stream, const AttentionLaunch& launch) {
  if (launch.item_count == 0) return cudaSuccess;
  if (launch.head_dim <= 0 || launch.head_dim > kAttentionMaxHeadDim) return cudaErrorInvalidValue;
  return with_attention_kernel(
      launch.head_dim, launch.bf16_products != 0,
      [&](auto dim) {
        constexpr int kDim = decltype(dim)::value;
        return launch.warp_keys != 0 ? launch_mma<kDim, true>(stream, launch)
                                     : launch_mma<kDim, false>(stream, launch);
      },
      [&](auto slots) { return launch_f32_slots<decltype(slots)::value>(stream, launch); });
}

}  // namespace vcap::tensor::cuda
