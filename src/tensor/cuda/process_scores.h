// Launcher of Backend::process_scores' kernels (score_kernels.h): the part reductions, then the
// per-row combination into launch.results. Returns cudaGetLastError() of the launches.
#ifndef VCAP_TENSOR_CUDA_PROCESS_SCORES_H_
#define VCAP_TENSOR_CUDA_PROCESS_SCORES_H_

#include <cuda_runtime_api.h>

#include "tensor/cuda/score_kernels.h"

namespace vcap::tensor::cuda {

cudaError_t launch_process_scores(cudaStream_t stream, const ScoreLaunch& launch);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_PROCESS_SCORES_H_
