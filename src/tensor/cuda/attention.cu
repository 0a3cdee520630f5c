#include "tensor/cuda/attention.h"

#include <cuda_bf16.h>

#include <cmath>

#include "tensor/cuda/kernel_util.cuh"

namespace vcap::tensor::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kRowsPerWarp = kAttentionTileLanes / kWarps;  // 16 lanes per warp
constexpr int kLanes = kAttentionTileLanes;
constexpr int kKeys = kAttentionTileKeys;                   // 2 keys per thread of a warp
constexpr int kScorePitch = kLanes + 4;  // float4 stores of 8 threads hit 8 distinct bank groups
static_assert(kRowsPerWarp % 4 == 0 && kKeys == 2 * kWarpSize);

// Shared-memory layout of the main kernel (floats): Q [64][pitch], K [64][pitch],
// V [64][vector_dim], P [64 keys][kScorePitch].
struct SharedLayout {
  int dim4;        // head_dim rounded up to a multiple of 4 (the dot products run over it)
  int pitch;       // row pitch of Q and K: dim4, made an odd number of float4s (no conflicts)
  int vector_dim;  // head_dim rounded up to 32: one float per thread and slot

  __host__ __device__ explicit SharedLayout(int head_dim)
      : dim4((head_dim + 3) / 4 * 4),
        pitch((dim4 / 4) % 2 == 1 ? dim4 : dim4 + 4),
        vector_dim((head_dim + kWarpSize - 1) / kWarpSize * kWarpSize) {}

  __host__ __device__ size_t bytes() const {
    return sizeof(float) * (static_cast<size_t>(kLanes + kKeys) * pitch +
                            static_cast<size_t>(kKeys) * vector_dim +
                            static_cast<size_t>(kKeys) * kScorePitch);
  }
};

// Keys [0, end) are visible to block-relative query row i; 0 for rows outside the block.
__device__ inline int64_t visible_end(const AttentionBlockDesc& block, int64_t row) {
  if (row >= block.q_count) return 0;
  if (!block.causal) return block.k_count;
  const int64_t end = row + block.causal_offset + 1;
  return end < 0 ? 0 : (end > block.k_count ? block.k_count : end);
}

// Copies `rows` rows of `count_valid` x `dim` values into shared memory rows of `pitch`,
// zero-filling columns [dim, width) and rows [count_valid, rows). Rows are spread over the
// warps, columns over the threads of a warp (coalesced reads).
// T: float, or __nv_bfloat16 (widened exactly).
template <typename T>
__device__ inline void load_tile(float* dst, int pitch, int width, const T* src,
                                 int64_t src_stride, int count_valid, int rows, int dim) {
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  for (int r = warp; r < rows; r += kWarps) {
    const T* row = src + static_cast<int64_t>(r) * src_stride;
    for (int d = lane; d < width; d += kWarpSize) {
      dst[r * pitch + d] = (r < count_valid && d < dim) ? static_cast<float>(row[d]) : 0.0f;
    }
  }
}

// Rows [first, first + rows) of a block's keys or values of one kv head into shared memory.
__device__ inline void load_kv_tile(float* dst, int pitch, int width, const void* src,
                                    int64_t src_stride, bool bf16, int64_t first, int64_t column,
                                    int count_valid, int rows, int dim) {
  const int64_t offset = first * src_stride + column;
  if (bf16) {
    load_tile(dst, pitch, width, static_cast<const __nv_bfloat16*>(src) + offset, src_stride,
              count_valid, rows, dim);
  } else {
    load_tile(dst, pitch, width, static_cast<const float*>(src) + offset, src_stride, count_valid,
              rows, dim);
  }
}

template <int kSlots>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const AttentionLaunch args) {
  constexpr float kMinusInf = -INFINITY;
  extern __shared__ float4 shared4[];
  const SharedLayout layout(args.head_dim);
  float* const qs = reinterpret_cast<float*>(shared4);
  float* const ks = qs + kLanes * layout.pitch;
  float* const vs = ks + kKeys * layout.pitch;
  float* const ps = vs + kKeys * layout.vector_dim;

  const AttentionItem item = args.items[blockIdx.x];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int group = args.group;
  const int dim = args.head_dim;
  const int64_t kv_column = static_cast<int64_t>(item.kv_head) * dim;

  // Q tile: lane t of the tile is query row (lane_begin + t) / group, head-in-group the rest.
  for (int t = warp; t < kLanes; t += kWarps) {
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / group;
    const int64_t column = kv_column * group + (query % group) * dim;
    const bool valid = row < block.q_count;
    const float* src = args.q + (block.q_begin + (valid ? row : 0)) * args.q_stride + column;
    for (int d = lane; d < layout.dim4; d += kWarpSize) {
      qs[t * layout.pitch + d] = (valid && d < dim) ? src[d] : 0.0f;
    }
  }

  // Per thread: the 16 lanes of its warp; scores of keys `lane` and `lane + 32` of a tile;
  // output columns lane + 32 * slot.
  int64_t end[kRowsPerWarp];
  float max[kRowsPerWarp];
  float sum[kRowsPerWarp];  // this thread's keys only; summed over the warp at the end
  float acc[kRowsPerWarp][kSlots];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    end[r] = visible_end(block, (item.lane_begin + warp * kRowsPerWarp + r) / group);
    max[r] = kMinusInf;
    sum[r] = 0.0f;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) acc[r][s] = 0.0f;
  }

  for (int64_t tile = item.key_begin; tile < item.key_end; tile += kKeys) {
    const int count = static_cast<int>(item.key_end - tile < kKeys ? item.key_end - tile : kKeys);
    __syncthreads();  // every warp is done with the previous K/V tile (and Q is written)
    load_kv_tile(ks, layout.pitch, layout.dim4, block.k, block.k_stride, block.kv_bf16 != 0, tile,
                 kv_column, count, kKeys, dim);
    load_kv_tile(vs, layout.vector_dim, layout.vector_dim, block.v, block.v_stride,
                 block.kv_bf16 != 0, tile, kv_column, count, kKeys, dim);
    __syncthreads();

    // Scores of this warp's 16 lanes against keys `lane` and `lane + 32`.
    float score[kRowsPerWarp][2];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) score[r][0] = score[r][1] = 0.0f;
    const float* k0 = ks + lane * layout.pitch;
    const float* k1 = ks + (lane + kWarpSize) * layout.pitch;
    const float* q_warp = qs + warp * kRowsPerWarp * layout.pitch;
    for (int d = 0; d < layout.dim4; d += 4) {
      const float4 a = *reinterpret_cast<const float4*>(k0 + d);
      const float4 b = *reinterpret_cast<const float4*>(k1 + d);
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float4 q = *reinterpret_cast<const float4*>(q_warp + r * layout.pitch + d);
        score[r][0] += q.x * a.x + q.y * a.y + q.z * a.z + q.w * a.w;
        score[r][1] += q.x * b.x + q.y * b.y + q.z * b.z + q.w * b.w;
      }
    }

    // Online softmax: rescale what was accumulated to the new running max.
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const bool see0 = lane < count && tile + lane < end[r];
      const bool see1 = lane + kWarpSize < count && tile + lane + kWarpSize < end[r];
      const float s0 = see0 ? score[r][0] * args.scale : kMinusInf;
      const float s1 = see1 ? score[r][1] * args.scale : kMinusInf;
      const float new_max = fmaxf(max[r], warp_max(fmaxf(s0, s1)));
      // With no visible key yet the max is -inf: subtract 0 instead, so exp gives 0, not NaN.
      const float base = new_max == kMinusInf ? 0.0f : new_max;
      const float correction = expf(max[r] - base);
      const float p0 = expf(s0 - base);
      const float p1 = expf(s1 - base);
      sum[r] = sum[r] * correction + p0 + p1;
#pragma unroll
      for (int s = 0; s < kSlots; ++s) acc[r][s] *= correction;
      max[r] = new_max;
      score[r][0] = p0;
      score[r][1] = p1;
    }
    // P[key][lane of the tile], four lanes per float4 store.
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r += 4) {
      const int column = warp * kRowsPerWarp + r;
      *reinterpret_cast<float4*>(ps + lane * kScorePitch + column) =
          make_float4(score[r][0], score[r + 1][0], score[r + 2][0], score[r + 3][0]);
      *reinterpret_cast<float4*>(ps + (lane + kWarpSize) * kScorePitch + column) =
          make_float4(score[r][1], score[r + 1][1], score[r + 2][1], score[r + 3][1]);
    }
    __syncwarp();  // a warp reads only the P columns it wrote

    for (int j = 0; j < count; ++j) {
      float v[kSlots];
#pragma unroll
      for (int s = 0; s < kSlots; ++s) v[s] = vs[j * layout.vector_dim + lane + s * kWarpSize];
      const float* p_row = ps + j * kScorePitch + warp * kRowsPerWarp;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; r += 4) {
        const float4 p = *reinterpret_cast<const float4*>(p_row + r);
#pragma unroll
        for (int s = 0; s < kSlots; ++s) {
          acc[r][s] += p.x * v[s];
          acc[r + 1][s] += p.y * v[s];
          acc[r + 2][s] += p.z * v[s];
          acc[r + 3][s] += p.w * v[s];
        }
      }
    }
    __syncwarp();  // P is rewritten by the next tile
  }

#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int t = warp * kRowsPerWarp + r;
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / group;
    const float total = warp_sum(sum[r]);
    if (row >= block.q_count) continue;
    if (item.partial < 0) {
      const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
      float* out = args.out + (block.q_begin + row) * args.out_stride + kv_column * group +
                   (query % group) * dim;
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
        const int d = lane + s * kWarpSize;
        if (d < dim) out[d] = acc[r][s] * inverse;
      }
    } else {
      float* state = args.partials +
                     (static_cast<int64_t>(item.partial) * kLanes + t) * (layout.vector_dim + 2);
      if (lane == 0) {
        state[0] = max[r];
        state[1] = total;
      }
#pragma unroll
      for (int s = 0; s < kSlots; ++s) state[2 + lane + s * kWarpSize] = acc[r][s];
    }
  }
}

// Merges the partial states of one item's key parts: out = sum_p acc_p * e^(max_p - M) /
// sum_p sum_p * e^(max_p - M), M the largest max; a lane that saw no key gets zeros.
__global__ void __launch_bounds__(kThreads) attention_combine_kernel(const AttentionLaunch args) {
  const AttentionCombine item = args.combines[blockIdx.x];
  const AttentionBlockDesc block = args.blocks[item.block];
  const int dim = args.head_dim;
  const int64_t stride = SharedLayout(dim).vector_dim + 2;
  const float* first = args.partials + static_cast<int64_t>(item.first_partial) * kLanes * stride;
  for (int index = threadIdx.x; index < kLanes * dim; index += blockDim.x) {
    const int t = index / dim;
    const int d = index % dim;
    const int64_t query = item.lane_begin + t;
    const int64_t row = query / args.group;
    if (row >= block.q_count) continue;
    float top = -INFINITY;
    for (int p = 0; p < item.count; ++p) top = fmaxf(top, first[(p * kLanes + t) * stride]);
    float total = 0.0f;
    float value = 0.0f;
    for (int p = 0; p < item.count; ++p) {
      const float* state = first + (p * kLanes + t) * stride;
      const float weight = state[0] == -INFINITY ? 0.0f : expf(state[0] - top);
      total += state[1] * weight;
      value += state[2 + d] * weight;
    }
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    args.out[(block.q_begin + row) * args.out_stride +
             static_cast<int64_t>(item.kv_head) * dim * args.group + (query % args.group) * dim +
             d] = value * inverse;
  }
}

template <int kSlots>
cudaError_t launch_main(cudaStream_t stream, const AttentionLaunch& launch) {
  const size_t shared = SharedLayout(launch.head_dim).bytes();
  // Above 48 KB a kernel must opt in to more dynamic shared memory.
  const cudaError_t error = cudaFuncSetAttribute(
      attention_kernel<kSlots>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(shared));
  if (error != cudaSuccess) return error;
  attention_kernel<kSlots><<<launch.item_count, kThreads, shared, stream>>>(launch);
  return cudaGetLastError();
}

}  // namespace

int64_t attention_partial_floats(int head_dim) {
  return static_cast<int64_t>(kLanes) * (SharedLayout(head_dim).vector_dim + 2);
}

cudaError_t launch_attention(cudaStream_t stream, const AttentionLaunch& launch) {
  if (launch.item_count == 0) return cudaSuccess;
  if (launch.head_dim <= 0 || launch.head_dim > kAttentionMaxHeadDim) return cudaErrorInvalidValue;
  cudaError_t error = cudaSuccess;
  switch ((launch.head_dim + kWarpSize - 1) / kWarpSize) {
    case 1:
      error = launch_main<1>(stream, launch);
      break;
    case 2:
      error = launch_main<2>(stream, launch);
      break;
    case 3:
      error = launch_main<3>(stream, launch);
      break;
    default:
      error = launch_main<4>(stream, launch);
      break;
  }
  if (error != cudaSuccess || launch.combine_count == 0) return error;
  attention_combine_kernel<<<launch.combine_count, kThreads, 0, stream>>>(launch);
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
