// The GPU's product for few rows (src/tensor/cuda/gemv_kernel.h) in the SIMT emulator on the CPU,
// against the double reference of the bf16 matmul: f32 and bf16 inputs, one and two row tiles
// (up to 16 rows), one and two column tiles per block, partial tiles of rows, columns and k,
// row strides, bias and accumulation, and k long enough for every warp to loop. On a GPU the same
// products run through the CUDA backend in tests/gpu/matmul_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "backend_test_util.h"
#include "simt_emulator.h"
#include "tensor/cuda/gemv_kernel.h"
#include "tensor/dtype.h"

namespace vcap::tensor::testing {
namespace {

using cuda::Bf16;

struct GemvCase {
  int64_t rows, k, n;
  bool bias, accumulate, bf16_input;
  int64_t in_pad, out_pad;  // extra elements per row (in keeps its rows 16-byte aligned)
};

// Runs the case with kColumnTiles column tiles per block, as many row tiles as it needs, and
// checks out against the reference and its padding against the fill.
template <int kColumnTiles>
void check_case(const GemvCase& c, uint32_t seed) {
  constexpr float kFill = 7.0f;
  const auto in = rounded_to_bf16(random_values(c.rows * c.k, seed, -2.0f, 2.0f));
  const auto w = random_values(c.n * c.k, seed + 1);
  const auto bias = random_values(c.n, seed + 2);
  const auto previous =
      c.accumulate ? random_values(c.rows * c.n, seed + 3)
                   : std::vector<float>(c.rows * c.n, std::numeric_limits<float>::quiet_NaN());

  std::vector<uint16_t> weight(w.size());
  for (size_t i = 0; i < w.size(); ++i) weight[i] = f32_to_bf16(w[i]);
  const int64_t in_stride = c.k + c.in_pad;
  std::vector<float> in_f32(static_cast<size_t>(c.rows * in_stride), kFill);
  for (int64_t r = 0; r < c.rows; ++r) {
    std::copy_n(in.begin() + r * c.k, c.k, in_f32.begin() + r * in_stride);
  }
  std::vector<Bf16> in_bf16(in_f32.size());
  for (size_t i = 0; i < in_f32.size(); ++i) in_bf16[i] = Bf16{f32_to_bf16(in_f32[i])};
  const int64_t out_stride = c.n + c.out_pad;
  std::vector<float> out(static_cast<size_t>(c.rows * out_stride), kFill);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t o = 0; o < c.n; ++o) out[r * out_stride + o] = previous[r * c.n + o];
  }

  const cuda::Matrix<float> out_matrix{out.data(), c.rows, c.n, out_stride};
  const float* bias_data = c.bias ? bias.data() : nullptr;
  const auto run = [&](const auto& args) {
    cuda::with_gemv_tiles(c.rows, 0, [&](auto, auto row_tiles) {
      constexpr int kRowTiles = decltype(row_tiles)::value;
      cuda::simt::emulate_grid(
          static_cast<int>(cuda::gemv_blocks(c.n, kColumnTiles)), cuda::kGemvThreads,
          cuda::gemv_shared_words<kColumnTiles, kRowTiles>(), [&](int block, uint32_t* shared) {
            cuda::gemv_block<kColumnTiles, kRowTiles>(args, block,
                                                      reinterpret_cast<float*>(shared));
          });
      return 0;
    });
  };
  if (c.bf16_input) {
    run(cuda::GemvArgs<Bf16>{{in_bf16.data(), c.rows, c.k, in_stride},
                             weight.data(),
                             c.n,
                             out_matrix,
                             bias_data,
                             c.accumulate});
  } else {
    run(cuda::GemvArgs<float>{{in_f32.data(), c.rows, c.k, in_stride},
                              weight.data(),
                              c.n,
                              out_matrix,
                              bias_data,
                              c.accumulate});
  }

  const MatmulReference want =
      reference_matmul(in, w, c.bias ? bias : std::vector<float>(),
                       c.accumulate ? previous : std::vector<float>(), c.rows, c.k, c.n, true);
  std::vector<float> got;
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t o = 0; o < c.n; ++o) got.push_back(out[r * out_stride + o]);
    for (int64_t o = c.n; o < out_stride; ++o) EXPECT_EQ(out[r * out_stride + o], kFill);
  }
  // f32 sums of a few hundred products: a few ulp of their magnitude.
  expect_close(got, want.values, 1e-5, &want.scale);
}

TEST(CudaGemvKernel, MatchesTheBf16MatmulReference) {
  const GemvCase cases[] = {
      {1, 64, 16, false, false, false, 0, 0},
      // k not a multiple of 32 (the last block's quads half empty), a partial column tile.
      {3, 72, 40, true, true, false, 4, 3},
      {8, 296, 33, true, false, true, 8, 0},
      // Two row tiles, the second partial.
      {9, 264, 48, true, true, false, 0, 5},
      // Every warp loops: 66 k blocks, past kGemvWarps * kGemvUnroll (64 with one column tile,
      // 32 with two), the last one partial.
      {16, 2088, 20, false, true, true, 0, 1},
      // No k at all: bias and the previous out only.
      {2, 0, 17, true, true, false, 0, 0},
  };
  uint32_t seed = 40;
  for (const GemvCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.rows << "x" << c.k << "->" << c.n << (c.bias ? " bias" : "")
                 << (c.accumulate ? " add" : "") << (c.bf16_input ? " bf16 in" : " f32 in"));
    {
      SCOPED_TRACE("one column tile per block");
      check_case<1>(c, seed);
    }
    {
      SCOPED_TRACE("two column tiles per block");
      check_case<2>(c, seed);
    }
    seed += 10;
  }
}

TEST(CudaGemvKernel, TilesFollowRowsAndColumns) {
  const auto tiles = [](int64_t rows, int64_t n) {
    return cuda::with_gemv_tiles(rows, n, [](auto columns, auto row_tiles) {
      return 10 * decltype(columns)::value + decltype(row_tiles)::value;
    });
  };
  EXPECT_EQ(tiles(1, 1536), 11);
  EXPECT_EQ(tiles(8, 2048), 11);
  EXPECT_EQ(tiles(9, 1536), 12);
  EXPECT_EQ(tiles(16, 17920), 22);
  EXPECT_EQ(tiles(8, 151936), 21);
  EXPECT_EQ(cuda::gemv_blocks(1536, 1), 96);
  EXPECT_EQ(cuda::gemv_blocks(40, 2), 2);
}

}  // namespace
}  // namespace vcap::tensor::testing
