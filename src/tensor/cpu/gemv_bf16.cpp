#include "tensor/cpu/gemv_bf16.h"

#include "base/x86_intrinsics.h"
#include "tensor/cpu/simd_math.h"

namespace vcap::tensor::cpu {
namespace {

constexpr int64_t kBlockColumns = 64;    // output columns per packed block (the "64b")
constexpr int64_t kPairsPerKBlock = 16;  // the "16a" of 16a64b2a: pairs of input features
constexpr int64_t kPairWords = 64;       // 32-bit words of one pair row of a block

// Where the block of output columns [64 b, 64 b + 64) starts, in 32-bit words.
struct PackedWeights {
  const uint32_t* data;
  int64_t block_words;  // words between consecutive column blocks
  int64_t pairs;        // K / 2
};

struct Epilogue {
  float* out;
  int64_t out_stride;
  const float* bias;  // nullptr when absent
  bool accumulate;
  int64_t columns;  // N
};

// Rows [0, R) of the column block `block`, vectors [V * half, V * half + V) of its four
// 16-column vectors: acc[r][v] = sum over pairs of x[r] pair . w pair, then the epilogue.
template <int R, int V>
[[gnu::target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]] void block_product(
    const PackedWeights& w, const uint32_t* const* x, int64_t block, int half, const Epilogue& e) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const uint32_t* column = w.data + block * w.block_words + half * V * 16;
  for (int64_t p = 0; p < w.pairs; ++p) {
    const uint32_t* row = column + p * kPairWords;
    __m512bh weights[V];
    for (int v = 0; v < V; ++v) {
      weights[v] = reinterpret_cast<__m512bh>(_mm512_load_si512(row + 16 * v));
    }
    for (int r = 0; r < R; ++r) {
      const auto pair = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(x[r][p])));
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], weights[v], pair);
    }
  }
  for (int v = 0; v < V; ++v) {
    const int64_t first = block * kBlockColumns + (half * V + v) * 16;
    if (first >= e.columns) break;
    const __mmask16 mask = simd::first_lanes(e.columns - first);
    const __m512 bias =
        e.bias != nullptr ? _mm512_maskz_loadu_ps(mask, e.bias + first) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      float* out = e.out + r * e.out_stride + first;
      __m512 value = _mm512_add_ps(acc[r][v], bias);
      if (e.accumulate) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, out));
      _mm512_mask_storeu_ps(out, mask, value);
    }
  }
}

// One column block for R rows: all four vectors at once for up to 4 rows; above that, two
// passes of two vectors so the accumulators still fit the 32 registers.
template <int R>
void rows_block(const PackedWeights& w, const uint32_t* const* x, int64_t block,
                const Epilogue& e) {
  if constexpr (R <= 4) {
    block_product<R, 4>(w, x, block, 0, e);
  } else {
    block_product<R, 2>(w, x, block, 0, e);
    block_product<R, 2>(w, x, block, 1, e);
  }
}

using BlockFunction = void (*)(const PackedWeights&, const uint32_t* const*, int64_t,
                               const Epilogue&);

constexpr BlockFunction kBlockFunctions[kGemvMaxRows] = {
    rows_block<1>, rows_block<2>, rows_block<3>, rows_block<4>,
    rows_block<5>, rows_block<6>, rows_block<7>, rows_block<8>};

}  // namespace

bool gemv_bf16_reads(const dnnl::memory::desc& weights) {
  const dnnl_memory_desc_t& d = weights.data;
  if (d.ndims != 2 || d.data_type != dnnl_bf16 || d.format_kind != dnnl_blocked) return false;
  if (d.dims[0] % 2 != 0 || d.offset0 != 0) return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  return b.inner_nblks == 3 && b.inner_idxs[0] == 0 && b.inner_blks[0] == kPairsPerKBlock &&
         b.inner_idxs[1] == 1 && b.inner_blks[1] == kBlockColumns && b.inner_idxs[2] == 0 &&
         b.inner_blks[2] == 2 && b.strides[0] == 2 * kPairsPerKBlock * kBlockColumns &&
         b.strides[1] == d.padded_dims[0] * kBlockColumns;
}

void gemv_bf16(const CpuContext& context, TensorView out, const uint16_t* in_bf16,
               const std::byte* weights, const dnnl::memory::desc& desc,
               std::optional<TensorView> bias, bool accumulate) {
  const dnnl_memory_desc_t& d = desc.data;
  const int64_t k = d.dims[0];
  const PackedWeights w{reinterpret_cast<const uint32_t*>(weights),
                        d.format_desc.blocking.strides[1] / 2, k / 2};
  const Epilogue e{out.row<float>(0), out.row_stride, bias ? bias->row<float>(0) : nullptr,
                   accumulate, out.cols};
  const uint32_t* x[kGemvMaxRows];
  for (int64_t r = 0; r < out.rows; ++r) {
    x[r] = reinterpret_cast<const uint32_t*>(in_bf16 + r * k);
  }
  const BlockFunction run = kBlockFunctions[out.rows - 1];
  const int64_t blocks = (out.cols + kBlockColumns - 1) / kBlockColumns;
  // Static schedule: each thread streams one contiguous run of blocks.
#pragma omp parallel for num_threads(context.threads) schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) run(w, x, b, e);
}

}  // namespace vcap::tensor::cpu
