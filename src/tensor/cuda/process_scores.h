// Launcher of Backend::process_scores' kernel (score_kernels.h): the part reductions, each row's
// last part also reducing the row into launch.results. Returns cudaGetLastError().
#ifndef VCAP_TENSOR_CUDA_PROCESS_SCORES_H_
#define VCAP_TENSOR_CUDA_PROCESS_SCORES_H_

#include <cuda_runtime_api.h>

#include "tensor/cuda/score_kernels.h"

namespace vcap::tensor::cuda {

cudaError_t launch_process_scores(cudaStream_t stream, const ScoreLaunch& launch);

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_PROCESS_SCORES_H_
