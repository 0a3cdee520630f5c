// The launch side of the row and elementwise kernels (row_kernels.h): grid sizes, the block's
// place in its grid, and the choice of the output type. Included by .cu files only.
#ifndef VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_
#define VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/kernel_matrix.h"
#include "tensor/tensor.h"

namespace vcap::tensor::cuda {

// Calls launch(matrix) with out as a Matrix<float> or, for a bf16 out (a bf16 matmul's input,
// tensor/backend.h), a Matrix<Bf16>; kernels store from_f32<Out>(value) into it.
template <class Launch>
cudaError_t with_output(TensorView out, Launch&& launch) {
  return out.dtype == DType::kBF16 ? launch(matrix_of<Bf16>(out)) : launch(matrix_of<float>(out));
}

// Grid size for one block per row, grid-stride beyond the limit.
inline unsigned row_blocks(int64_t rows) {
  constexpr int64_t kMaxBlocks = int64_t{1} << 30;
  return static_cast<unsigned>(rows < kMaxBlocks ? rows : kMaxBlocks);
}

// Grid of the elementwise kernels: x walks the rows (grid-stride beyond the limit), y splits
// each row into chunks of kRowThreads columns, or of kRowThreads fours of columns when the
// kernel takes them four at a time (fits_fours). Rows alone would leave a decode step's few
// long rows (8 rows of 8960 for silu_mul) to 8 blocks whose threads each walk 35 columns, one
// load after another.
inline dim3 elementwise_grid(int64_t rows, int64_t cols, bool fours) {
  constexpr int64_t kMaxChunks = 65535;  // gridDim.y's limit; beyond it threads stride on
  const int64_t items = fours ? cols / 4 : cols;
  const int64_t chunks = (items + kRowThreads - 1) / kRowThreads;
  return dim3(row_blocks(rows), static_cast<unsigned>(chunks < kMaxChunks ? chunks : kMaxChunks));
}

// This block's place in its grid.
__device__ inline BlockPlace this_block() {
  return BlockPlace{blockIdx.x, gridDim.x, blockIdx.y, gridDim.y};
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_KERNEL_UTIL_CUH_
