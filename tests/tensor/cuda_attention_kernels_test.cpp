// The GPU attention's kernel bodies (src/tensor/cuda/attention_kernels.h) on plans from
// attention_plan.h, run in the SIMT emulator (simt_emulator.h) on the CPU, against the double
// reference: the tensor-core kernel (bf16 products) and the f32 kernel, for vision segments,
// causal GQA prefill after a cached prefix, decode over long caches split into key parts and
// combined, batched decode, queries that see no key; f32 and bf16 keys and values; rows outside
// every block untouched; f32 and bf16 outputs. On a GPU the same code runs in
// tests/gpu/attention_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <deque>
#include <vector>

#include "backend_test_util.h"
#include "simt_emulator.h"
#include "tensor/cuda/attention_f32.h"
#include "tensor/cuda/attention_kernels.h"
#include "tensor/cuda/attention_mma.h"
#include "tensor/cuda/attention_plan.h"
#include "tensor/dtype.h"

namespace vcap::tensor::testing {
namespace {

// With bf16 products q, k and v are bf16 values to begin with (the kernel's own rounding of
// them changes nothing): kBf16AttentionTolerance. In f32 only the order of the sums differs.
constexpr double kF32Tolerance = 1e-5;

template <int kSlots>
void run_f32_items(const cuda::AttentionLaunch& launch) {
  cuda::simt::emulate_grid(launch.item_count, cuda::kAttentionThreads,
                           cuda::AttentionF32Layout(launch.head_dim).bytes() / sizeof(float),
                           [&](int block, uint32_t* shared) {
                             cuda::attention_f32_block<kSlots>(launch, block,
                                                               reinterpret_cast<float*>(shared));
                           });
}

template <int kDim>
void run_mma_items(const cuda::AttentionLaunch& launch) {
  cuda::simt::emulate_grid(launch.item_count, cuda::kAttentionThreads,
                           cuda::attention_mma_shared_bytes(kDim) / sizeof(uint32_t),
                           [&](int block, uint32_t* shared) {
                             if (launch.warp_keys != 0) {
                               cuda::attention_mma_block<kDim, true>(launch, block, shared);
                             } else {
                               cuda::attention_mma_block<kDim, false>(launch, block, shared);
                             }
                           });
}

// Runs the kernel the GPU takes for `p` (tensor cores when p.bf16_products), whose blocks merge
// split key ranges, on `blocks` (K and V side by side in one matrix of `kv_dtype` per block, with
// `kv_padding` columns of NaN that must never be read) and compares with reference_attention.
// `target_items` > the plan's tiles splits key ranges into parts of at least one key tile.
void check_with_padding(const AttentionParams& p, std::vector<HostAttentionBlock> blocks,
                        int64_t rows, uint32_t seed, DType kv_dtype, int target_items,
                        int64_t kv_padding) {
  ASSERT_TRUE(!p.bf16_products || cuda::attention_mma_supports(p.head_dim))
      << "bf16 products at this head_dim would test the f32 kernel";
  const auto prepared = [&](std::vector<float> values) {
    return p.bf16_products || kv_dtype == DType::kBF16 ? rounded_to_bf16(std::move(values))
                                                       : values;
  };
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  const int64_t kv_stride = 2 * kv_width + kv_padding;
  std::vector<float> q = prepared(random_values(rows * width, seed, -3.0f, 3.0f));
  const auto initial = random_values(rows * width, seed + 1);
  std::vector<float> out = initial;

  std::deque<std::vector<float>> f32_storage;
  std::deque<std::vector<uint16_t>> bf16_storage;
  std::vector<AttentionBlock> views;
  for (HostAttentionBlock& b : blocks) {
    b.k = prepared(random_values(b.k_count * kv_width, ++seed, -3.0f, 3.0f));
    b.v = prepared(random_values(b.k_count * kv_width, ++seed));
    std::vector<float> fused =
        keys_beside_values(b.k, b.v, b.k_count, kv_width, kv_stride, std::nanf(""));
    std::byte* data = nullptr;
    if (kv_dtype == DType::kBF16) {
      std::vector<uint16_t>& bits = bf16_storage.emplace_back(fused.size());
      for (size_t i = 0; i < fused.size(); ++i) bits[i] = f32_to_bf16(fused[i]);
      data = reinterpret_cast<std::byte*>(bits.data());
    } else {
      data = reinterpret_cast<std::byte*>(f32_storage.emplace_back(std::move(fused)).data());
    }
    const TensorView all{data, kv_dtype, b.k_count, 2 * kv_width, kv_stride};
    views.push_back({b.q_begin, b.q_count, all.cols_slice(0, kv_width),
                     all.cols_slice(kv_width, kv_width), b.causal, b.offset});
  }

  const cuda::AttentionPlan plan =
      cuda::make_attention_plan(views, p, target_items, cuda::kMmaKeys);
  std::vector<float> partials(
      static_cast<size_t>(plan.partial_count) * cuda::attention_partial_floats(p.head_dim),
      std::nanf(""));
  std::vector<int32_t> arrivals(static_cast<size_t>(plan.combine_count), 0);
  const TensorView q_view{reinterpret_cast<std::byte*>(q.data()), DType::kF32, rows, width, width};
  const auto run = [&](DType out_dtype, void* out_data) {
    const TensorView out_view{static_cast<std::byte*>(out_data), out_dtype, rows, width, width};
    const cuda::AttentionLaunch launch = cuda::make_attention_launch(
        plan, plan.tables.data(), out_view, q_view, partials.data(), arrivals.data(), p);
    cuda::with_attention_kernel(
        p.head_dim, p.bf16_products, [&](auto dim) { run_mma_items<decltype(dim)::value>(launch); },
        [&](auto slots) { run_f32_items<decltype(slots)::value>(launch); });
    // The block of each range's last part merged it and left its counter for the next launch.
    EXPECT_EQ(arrivals, std::vector<int32_t>(arrivals.size(), 0));
  };
  run(DType::kF32, out.data());
  expect_close(out, reference_attention(q, blocks, p, initial),
               p.bf16_products ? kBf16AttentionTolerance : kF32Tolerance);

  // A bf16 out (a bf16 matmul's input, tensor/backend.h) holds the same results rounded, bit for
  // bit, and rows outside every block keep what they held.
  std::vector<uint16_t> bits(initial.size());
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = f32_to_bf16(initial[i]);
  run(DType::kBF16, bits.data());
  int64_t mismatches = 0;
  for (size_t i = 0; i < bits.size(); ++i) mismatches += bits[i] != f32_to_bf16(out[i]);
  EXPECT_EQ(mismatches, 0) << "of " << bits.size() << " bf16 outputs";
}

// With an odd row stride, and for the tensor-core kernel also an even one and a 16-byte aligned
// one: it reads K rows a pair of elements at a time where the rows are aligned for it
// (pairs_aligned), and whole tiles 16 bytes at a time where every row starts on 16 bytes
// (rows_16b_aligned, the model's case).
void check(const AttentionParams& p, const std::vector<HostAttentionBlock>& blocks, int64_t rows,
           uint32_t seed, DType kv_dtype, int target_items) {
  check_with_padding(p, blocks, rows, seed, kv_dtype, target_items, 3);
  if (p.bf16_products) {
    {
      SCOPED_TRACE("even K and V row strides");
      check_with_padding(p, blocks, rows, seed, kv_dtype, target_items, 4);
    }
    SCOPED_TRACE("16-byte aligned K and V rows");
    check_with_padding(p, blocks, rows, seed, kv_dtype, target_items, 8);
  }
}

AttentionParams params(int heads, int kv_heads, int dim, bool bf16_products = true) {
  return {heads, kv_heads, dim, 1.0f / std::sqrt(static_cast<float>(dim)), bf16_products};
}

AttentionParams f32_params(int heads, int kv_heads, int dim) {
  return params(heads, kv_heads, dim, false);
}

TEST(CudaAttentionKernels, TensorCoreHeadDimsAreTheModelsOnes) {
  EXPECT_TRUE(cuda::attention_mma_supports(80));   // Qwen2-VL's vision tower
  EXPECT_TRUE(cuda::attention_mma_supports(128));  // its language models
  EXPECT_TRUE(cuda::attention_mma_supports(64));
  EXPECT_FALSE(cuda::attention_mma_supports(32));
  EXPECT_FALSE(cuda::attention_mma_supports(96));
}

TEST(CudaAttentionKernels, VisionSegmentsWithF32KeysAndValues) {
  check(params(2, 2, 80), {{0, 37, 37, false, 0, {}, {}}, {37, 70, 70, false, 0, {}, {}}}, 107, 1,
        DType::kF32, 1);
}

// The model's vision path since its attention takes a bf16 copy of k|v: several key tiles per
// item, pipelined (the next tile's copies in flight while one is used).
TEST(CudaAttentionKernels, VisionSegmentsWithBf16KeysAndValuesOverSeveralTiles) {
  check(params(2, 2, 80), {{0, 37, 37, false, 0, {}, {}}, {37, 200, 200, false, 0, {}, {}}}, 237,
        13, DType::kBF16, 1);
}

TEST(CudaAttentionKernels, LongSegmentSplitIntoKeyPartsAndCombined) {
  check(params(1, 1, 80), {{0, 70, 300, false, 0, {}, {}}}, 70, 2, DType::kF32, 16);
}

TEST(CudaAttentionKernels, CausalGqaPrefillAfterACachedPrefix) {
  // Two sequences: 20 new tokens after 13 cached (lanes = rows * 3 query heads), 9 new tokens.
  check(params(6, 2, 64), {{0, 20, 33, true, 13, {}, {}}, {20, 9, 9, true, 0, {}, {}}}, 29, 3,
        DType::kBF16, 1);
}

TEST(CudaAttentionKernels, CausalPrefillAcrossKeyTilesSplitIntoParts) {
  check(params(2, 1, 64), {{0, 40, 150, true, 110, {}, {}}}, 40, 4, DType::kF32, 16);
}

TEST(CudaAttentionKernels, CausalPrefillOverABf16CacheAcrossKeyTiles) {
  check(params(2, 1, 128), {{0, 40, 300, true, 260, {}, {}}}, 40, 14, DType::kBF16, 1);
}

TEST(CudaAttentionKernels, BatchedDecodeOverBf16CachesSplitIntoParts) {
  check(
      params(12, 2, 128),
      {{0, 1, 260, true, 259, {}, {}}, {1, 1, 5, true, 4, {}, {}}, {2, 1, 130, true, 129, {}, {}}},
      3, 5, DType::kBF16, 24);
}

// Blocks whose lanes fit one warp (AttentionPlan::warp_keys) split each key tile across the
// warps: two new tokens of 7 query heads per kv head (14 lanes) after 150 cached keys, causal
// (the diagonal inside a warp's quarter of the last tile), whole and split into parts; and a
// three-patch vision segment at head_dim 80.
TEST(CudaAttentionKernels, BlocksOfOneWarpsLanesSplitTilesAcrossWarps) {
  const std::vector<HostAttentionBlock> prefill = {{0, 2, 152, true, 150, {}, {}},
                                                   {2, 1, 40, true, 39, {}, {}}};
  check(params(14, 2, 128), prefill, 3, 20, DType::kBF16, 1);
  check(params(14, 2, 128), prefill, 3, 21, DType::kBF16, 16);
  check(params(2, 2, 80), {{0, 3, 3, false, 0, {}, {}}}, 3, 22, DType::kBF16, 1);
}

TEST(CudaAttentionKernels, WarpKeysOnlyWhereEveryBlocksLanesFitOneWarp) {
  const std::vector<uint16_t> cache(64 * 512);
  const TensorView all{reinterpret_cast<std::byte*>(const_cast<uint16_t*>(cache.data())),
                       DType::kBF16, 64, 512, 512};
  const auto block = [&](int64_t q_count) {
    return AttentionBlock{0,    q_count,     all.cols_slice(0, 256), all.cols_slice(256, 256),
                          true, 64 - q_count};
  };
  // 12 query heads over 2 kv heads: 6 lanes per row.
  EXPECT_TRUE(
      cuda::make_attention_plan(std::vector{block(1), block(2)}, params(12, 2, 128), 1).warp_keys);
  EXPECT_FALSE(
      cuda::make_attention_plan(std::vector{block(1), block(3)}, params(12, 2, 128), 1).warp_keys);
}

TEST(CudaAttentionKernels, DecodeOverALongCacheCombinesMoreThan32Parts) {
  // 2560 keys in parts of one key tile: 40 partial states, more than a warp takes at once.
  check(params(2, 1, 64), {{0, 1, 2560, true, 2559, {}, {}}}, 1, 9, DType::kBF16, 64);
}

TEST(CudaAttentionKernels, QueriesWithoutVisibleKeysGetZerosAndOtherRowsAreUntouched) {
  // Offset -3: the first three queries see no key. Rows 0..1 and 8.. belong to no block.
  check(params(2, 1, 64), {{2, 6, 6, true, -3, {}, {}}}, 10, 7, DType::kBF16, 1);
}

// Batched decode of many short sequences (one block each) and a block without queries.
std::vector<HostAttentionBlock> many_small_blocks() {
  std::vector<HostAttentionBlock> blocks;
  for (int64_t b = 0; b < 40; ++b) blocks.push_back({b * 3, 3, 3 + b, true, b, {}, {}});
  blocks.push_back({120, 0, 4, true, 4, {}, {}});
  return blocks;
}

TEST(CudaAttentionKernels, ManySmallBlocksAndAnEmptyOne) {
  check(params(2, 1, 64), many_small_blocks(), 121, 8, DType::kBF16, 1);
}

// The f32 kernel (the f32 model path, and head dims without a tensor-core kernel).

TEST(CudaAttentionKernels, F32VisionSegments) {
  check(f32_params(2, 2, 80), {{0, 37, 37, false, 0, {}, {}}, {37, 70, 70, false, 0, {}, {}}}, 107,
        11, DType::kF32, 1);
}

TEST(CudaAttentionKernels, F32CausalGqaPrefillSplitIntoKeyParts) {
  check(f32_params(6, 2, 32), {{0, 20, 150, true, 130, {}, {}}, {20, 9, 9, true, 0, {}, {}}}, 29,
        12, DType::kF32, 16);
}

TEST(CudaAttentionKernels, F32DecodeOverABf16Cache) {
  check(f32_params(12, 2, 128), {{0, 1, 300, true, 299, {}, {}}, {1, 1, 5, true, 4, {}, {}}}, 2, 13,
        DType::kBF16, 8);
}

TEST(CudaAttentionKernels, F32HeadDimsThatAreNotMultiplesOf32) {
  check(f32_params(3, 3, 24), {{0, 11, 11, false, 0, {}, {}}}, 11, 14, DType::kF32, 1);
  check(f32_params(4, 2, 40), {{0, 70, 90, true, 20, {}, {}}}, 70, 15, DType::kF32, 1);
  check(f32_params(1, 1, 6), {{0, 5, 5, false, 0, {}, {}}}, 5, 16, DType::kF32, 1);
}

TEST(CudaAttentionKernels, F32ManySmallBlocksAndAnEmptyOne) {
  check(f32_params(2, 1, 32), many_small_blocks(), 121, 18, DType::kF32, 1);
}

TEST(CudaAttentionKernels, F32QueriesWithoutVisibleKeysGetZeros) {
  check(f32_params(2, 1, 16), {{2, 6, 6, true, -3, {}, {}}}, 10, 17, DType::kF32, 1);
}

}  // namespace
}  // namespace vcap::tensor::testing
