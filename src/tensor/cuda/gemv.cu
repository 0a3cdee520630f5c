#include "tensor/cuda/gemv.h"

#include <cstdint>

#include "tensor/cuda/gemv_kernel.h"

namespace vcap::tensor::cuda {
namespace {

template <int kColumnTiles, int kRowTiles, class In>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(const GemvArgs<In> args) {
  __shared__ float partial_sums[gemv_shared_words<kColumnTiles, kRowTiles>()];
  gemv_block<kColumnTiles, kRowTiles>(args, blockIdx.x, partial_sums);
}

template <class In>
cudaError_t launch_typed(cudaStream_t stream, const GemvArgs<In>& args) {
  return with_gemv_tiles(args.in.rows, args.n, [&](auto column_tiles, auto row_tiles) {
    constexpr int kColumnTiles = decltype(column_tiles)::value;
    constexpr int kRowTiles = decltype(row_tiles)::value;
    const auto blocks = static_cast<unsigned>(gemv_blocks(args.n, kColumnTiles));
    gemv_kernel<kColumnTiles, kRowTiles, In><<<blocks, kGemvThreads, 0, stream>>>(args);
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t launch_gemv(cudaStream_t stream, TensorView out, TensorView in, const void* weight,
                        std::optional<TensorView> bias, bool accumulate) {
  if (out.num_elements() == 0) return cudaSuccess;
  const auto* w = static_cast<const uint16_t*>(weight);
  const float* b = bias ? bias->ptr<const float>() : nullptr;
  const Matrix<float> o = matrix_of<float>(out);
  if (in.dtype == DType::kBF16) {
    return launch_typed(stream,
                        GemvArgs<Bf16>{matrix_of<const Bf16>(in), w, out.cols, o, b, accumulate});
  }
  return launch_typed(stream,
                      GemvArgs<float>{matrix_of<const float>(in), w, out.cols, o, b, accumulate});
}

}  // namespace vcap::tensor::cuda
