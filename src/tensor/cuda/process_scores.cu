#include "tensor/cuda/process_scores.h"

namespace vcap::tensor::cuda {
namespace {

__global__ void __launch_bounds__(kScoreThreads) score_part_kernel(const ScoreLaunch args) {
  __shared__ uint32_t shared[kScoreSharedWords];
  score_part_block(args, static_cast<int>(blockIdx.x), shared);
}

}  // namespace

cudaError_t launch_process_scores(cudaStream_t stream, const ScoreLaunch& launch) {
  if (launch.rows == 0) return cudaSuccess;
  score_part_kernel<<<launch.rows * launch.parts, kScoreThreads, 0, stream>>>(launch);
  return cudaGetLastError();
}

}  // namespace vcap::tensor::cuda
