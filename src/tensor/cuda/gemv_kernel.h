// The body of the CUDA backend's product for few rows (a decode step's: one row per clip of the
// batch, up to 16), written against simt.h so that it compiles with nvcc (gemv.cu) and with the
// host compiler for the tests' SIMT emulator, as the attention's does.
//
// out[r][c] = (accumulate ? out[r][c] : 0) + sum_k bf16(in[r][k]) * W[c][k] (+ bias[c]), W bf16
// [n, k] row-major with k % 8 == 0 and 16-byte aligned rows, `in` f32 or bf16 with 16-byte
// aligned rows, products accumulated in f32: the values of the bf16 matmul (gemm.h).
//
// Such a product reads each weight once and does 2 * rows flops with it: its speed is the rate
// at which the weights stream in. cuBLASLt streams them at half the memory's rate for these
// shapes and costs ~10 us of host time per call, more than the step's GPU time per product. Here
// the tensor cores take the weights as the 16-row A operand and the rows as the 8-column B operand
// (mma.m16n8k16, two of them for 9-16 rows): a thread loads 16 bytes (8 consecutive k) of each of
// its two weight rows and of its input row, and the two mmas of that 32-k block use words 0-1 and
// 2-3 of them as the fragments' k pairs. Any order of k within a block gives the same sum, as
// long as A and B agree on it. A block of kGemvWarps warps takes 16 or 32 output columns; its
// warps split k (32-k blocks round robin), then add their partial sums in shared memory in warp
// order, so that every run gives the same bits.
#ifndef VCAP_TENSOR_CUDA_GEMV_KERNEL_H_
#define VCAP_TENSOR_CUDA_GEMV_KERNEL_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tensor/cuda/kernel_matrix.h"
#include "tensor/cuda/simt.h"

namespace vcap::tensor::cuda {

constexpr int kGemvWarps = 8;
constexpr int kGemvThreads = kGemvWarps * simt::kWarpSize;
constexpr int kGemvMaxRows = 16;
constexpr int kGemvBlockK = 32;  // k per mma pair: 8 per thread of a quad
// k blocks whose loads a warp issues before their products (16 bytes of each of its weight rows
// per k block in flight per thread): 8 with one column tile, whose launches have the fewest
// blocks (96 for a 1536-column projection, under one per multiprocessor) and so need the most
// bytes in flight per block; 4 with two.
template <int kColumnTiles>
constexpr int kGemvUnroll = 8 / kColumnTiles;

// Output column tiles of 16 per thread block, row tiles of 8 per mma column.
template <int kColumnTiles, int kRowTiles>
VCAP_HOST_DEVICE constexpr size_t gemv_shared_words() {
  return static_cast<size_t>(kGemvWarps) * kColumnTiles * kRowTiles * 4 * simt::kWarpSize;
}

// One product. `In` is float or Bf16.
template <class In>
struct GemvArgs {
  Matrix<const In> in;     // [rows <= kGemvMaxRows, k]
  const uint16_t* weight;  // [n, k] bf16
  int64_t n;
  Matrix<float> out;  // [rows, n]
  const float* bias;  // [n] or null
  bool accumulate;
};

// Thread blocks a product of `n` columns takes with `column_tiles` tiles of 16 per block.
VCAP_HOST_DEVICE constexpr int64_t gemv_blocks(int64_t n, int column_tiles) {
  return (n + 16 * column_tiles - 1) / (16 * column_tiles);
}

// Eight consecutive elements of `in` from `p` (16-byte aligned) as four bf16 pairs, rounded to
// nearest even as the bf16 matmul rounds its f32 input.
VCAP_SIMT_FN simt::Word4 gemv_input_chunk(const Bf16* p) { return simt::load_word4(p); }

VCAP_SIMT_FN simt::Word4 gemv_input_chunk(const float* p) {
  const simt::Word4 low = simt::load_word4(p);
  const simt::Word4 high = simt::load_word4(p + 4);
  return simt::Word4{simt::bf16_pair_fast(simt::float_of(low.x), simt::float_of(low.y)),
                     simt::bf16_pair_fast(simt::float_of(low.z), simt::float_of(low.w)),
                     simt::bf16_pair_fast(simt::float_of(high.x), simt::float_of(high.y)),
                     simt::bf16_pair_fast(simt::float_of(high.z), simt::float_of(high.w))};
}

// Thread block `index`: output columns [index * 16 * kColumnTiles, +16 * kColumnTiles) for rows
// [0, 8 * kRowTiles) (in.rows <= 8 * kRowTiles). `shared` holds gemv_shared_words.
template <int kColumnTiles, int kRowTiles, class In>
VCAP_SIMT_FN void gemv_block(const GemvArgs<In>& args, int64_t index, float* shared) {
  static_assert(kColumnTiles >= 1 && kColumnTiles <= 2 && kRowTiles >= 1 && kRowTiles <= 2);
  const int thread = simt::thread_rank();
  const int warp = thread / simt::kWarpSize;
  const int lane = thread % simt::kWarpSize;
  const int g = lane / 4;  // weight rows g, g + 8 of a tile; input row g of a row tile
  const int t = lane % 4;  // the quad's k chunk: k0 + 8t .. k0 + 8t + 7
  const int64_t first_column = index * 16 * kColumnTiles;
  const int64_t k = args.in.cols;
  const int64_t k_blocks = (k + kGemvBlockK - 1) / kGemvBlockK;

  // Null where the row is past the matrix: its fragments are zeros.
  const uint16_t* weight_row[kColumnTiles][2];
  VCAP_UNROLL
  for (int c = 0; c < kColumnTiles; ++c) {
    VCAP_UNROLL
    for (int h = 0; h < 2; ++h) {
      const int64_t column = first_column + 16 * c + g + 8 * h;
      weight_row[c][h] = column < args.n ? args.weight + column * k : nullptr;
    }
  }
  const In* input_row[kRowTiles];
  VCAP_UNROLL
  for (int r = 0; r < kRowTiles; ++r) {
    const int64_t row = 8 * r + g;
    input_row[r] = row < args.in.rows ? args.in.data + row * args.in.stride : nullptr;
  }

  float acc[kColumnTiles][kRowTiles][4] = {};
  constexpr int kUnroll = kGemvUnroll<kColumnTiles>;
  for (int64_t base = warp; base < k_blocks; base += kGemvWarps * kUnroll) {
    simt::Word4 w[kUnroll][kColumnTiles][2];
    simt::Word4 x[kUnroll][kRowTiles];
    // Every load of the batch first, so that they are in flight together.
    VCAP_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t offset = (base + u * kGemvWarps) * kGemvBlockK + 8 * t;
      const bool valid = offset < k;  // k % 8 == 0: a chunk is wholly in or out
      VCAP_UNROLL
      for (int c = 0; c < kColumnTiles; ++c) {
        VCAP_UNROLL
        for (int h = 0; h < 2; ++h) {
          w[u][c][h] = valid && weight_row[c][h] != nullptr
                           ? simt::load_word4(weight_row[c][h] + offset)
                           : simt::Word4{};
        }
      }
      VCAP_UNROLL
      for (int r = 0; r < kRowTiles; ++r) {
        x[u][r] = valid && input_row[r] != nullptr ? gemv_input_chunk(input_row[r] + offset)
                                                   : simt::Word4{};
      }
    }
    VCAP_UNROLL
    for (int u = 0; u < kUnroll; ++u) {
      if (base + u * kGemvWarps >= k_blocks) break;  // the same for the whole warp
      VCAP_UNROLL
      for (int c = 0; c < kColumnTiles; ++c) {
        const simt::Word4& low = w[u][c][0];   // row g
        const simt::Word4& high = w[u][c][1];  // row g + 8
        const uint32_t a0[4] = {low.x, high.x, low.y, high.y};
        const uint32_t a1[4] = {low.z, high.z, low.w, high.w};
        VCAP_UNROLL
        for (int r = 0; r < kRowTiles; ++r) {
          simt::mma_bf16_16x8x16(acc[c][r], a0, x[u][r].x, x[u][r].y);
          simt::mma_bf16_16x8x16(acc[c][r], a1, x[u][r].z, x[u][r].w);
        }
      }
    }
  }

  // Partial sums by [warp][column tile][row tile][register][lane]: a warp's stores are 32
  // consecutive words.
  const auto slot = [&](int w, int c, int r, int reg, int l) {
    return (((w * kColumnTiles + c) * kRowTiles + r) * 4 + reg) * simt::kWarpSize + l;
  };
  VCAP_UNROLL
  for (int c = 0; c < kColumnTiles; ++c) {
    VCAP_UNROLL
    for (int r = 0; r < kRowTiles; ++r) {
      VCAP_UNROLL
      for (int reg = 0; reg < 4; ++reg) shared[slot(warp, c, r, reg, lane)] = acc[c][r][reg];
    }
  }
  simt::sync_block();

  // Output (row, column) of the block, columns fastest (coalesced stores): accumulator register
  // reg of lane 4 g + t holds column g + 8 (reg / 2) of its tile, row 2 t + reg % 2 of its tile.
  constexpr int kColumns = 16 * kColumnTiles;
  for (int o = thread; o < kColumns * 8 * kRowTiles; o += kGemvThreads) {
    const int local_row = o / kColumns;
    const int local_column = o % kColumns;
    const int64_t row = local_row;
    const int64_t column = first_column + local_column;
    if (row >= args.out.rows || column >= args.n) continue;
    const int c = local_column / 16;
    const int m = local_column % 16;
    const int r = local_row / 8;
    const int n = local_row % 8;
    const int reg = 2 * (m / 8) + n % 2;
    const int l = 4 * (m % 8) + n / 2;
    float sum = 0.0f;
    for (int w = 0; w < kGemvWarps; ++w) sum += shared[slot(w, c, r, reg, l)];
    if (args.bias != nullptr) sum += args.bias[column];
    float& target = args.out.at(row, column);
    target = args.accumulate ? target + sum : sum;
  }
}

// Calls body(column_tiles, row_tiles) with both as compile-time constants (::value) for a product
// of `rows` rows and `n` columns: two row tiles past 8 rows; two column tiles where the product
// has columns enough for that to leave several blocks per multiprocessor (the weights of the
// lm_head or a gate|up projection), else one, so that a 1536-column projection still spreads
// over 96 blocks.
template <class Body>
auto with_gemv_tiles(int64_t rows, int64_t n, Body&& body) {
  constexpr int64_t kWideColumns = 8192;
  const auto columns = [&](auto row_tiles) {
    if (n >= kWideColumns) return body(std::integral_constant<int, 2>{}, row_tiles);
    return body(std::integral_constant<int, 1>{}, row_tiles);
  };
  if (rows > 8) return columns(std::integral_constant<int, 2>{});
  return columns(std::integral_constant<int, 1>{});
}

}  // namespace vcap::tensor::cuda

#endif  // VCAP_TENSOR_CUDA_GEMV_KERNEL_H_
