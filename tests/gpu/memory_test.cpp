// CUDA backend: memory, transfers and conversions (exact, bit for bit against tensor/dtype.h),
// weights, the embedding gather and the row scatter.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "gpu_test_util.h"

namespace vcap::tensor::testing {
namespace {

class CudaMemory : public gpu_testing::CudaTest {};

// Values whose bf16 rounding is delicate: ties (even and odd), subnormals, infinities, NaN,
// the largest finite value (rounds to inf), negative zero.
std::vector<float> tricky_values() {
  std::vector<uint32_t> bits = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x00000001u,
                                0x807fffffu, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                                0x7f7fffffu, 0x80000000u, 0x3f800001u, 0xc0490fdbu};
  std::vector<float> values;
  for (const uint32_t b : bits) values.push_back(std::bit_cast<float>(b));
  return values;
}

TEST_F(CudaMemory, NameSaysTheDevice) { EXPECT_EQ(backend().name(), "cuda:0"); }

// The run's default memory budget is a share of this: it must see what tensors take. The free
// memory is the device's: another test process (they run 8 at a time) that exits meanwhile
// frees some, so the check has to hold once in a few tries.
TEST_F(CudaMemory, DeviceMemoryFreeShrinksByWhatATensorTakes) {
  constexpr int64_t kRows = 1024, kCols = 64 * 1024;  // 256 MiB of f32
  const uint64_t bytes = kRows * kCols * sizeof(float);
  uint64_t before = 0;
  uint64_t after = 0;
  std::vector<Tensor> kept;  // each try takes new memory, not what a pool kept from the last
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::optional<uint64_t> free_before = backend().device_memory_free();
    ASSERT_TRUE(free_before.has_value());
    auto tensor = backend().allocate(DType::kF32, kRows, kCols);
    ASSERT_TRUE(tensor.ok()) << tensor.status().to_string();
    kept.push_back(std::move(*tensor));
    ASSERT_TRUE(backend().synchronize().ok());
    const std::optional<uint64_t> free_after = backend().device_memory_free();
    ASSERT_TRUE(free_after.has_value());
    before = *free_before;
    after = *free_after;
    if (after + bytes <= before + (uint64_t{8} << 20)) break;  // pools round up, never down
  }
  EXPECT_LE(after + bytes, before + (uint64_t{8} << 20));
  EXPECT_TRUE(backend().synchronize().ok());
}

TEST_F(CudaMemory, F32RoundTripIsExactAndViewsKeepTheirShape) {
  const auto values = random_values(7 * 300, 1, -1e3f, 1e3f);
  Tensor t = device_matrix(backend(), values, 7, 300);
  EXPECT_EQ(t.view().row_stride, 300);
  EXPECT_EQ(host_values(backend(), t.view()), values);
  // A strided view downloads only its columns.
  const std::vector<float> slice = host_values(backend(), t.view().cols_slice(10, 5));
  for (int r = 0; r < 7; ++r) {
    for (int c = 0; c < 5; ++c) EXPECT_EQ(slice[r * 5 + c], values[r * 300 + 10 + c]);
  }
}

TEST_F(CudaMemory, UploadIntoAStridedViewLeavesOtherColumnsAlone) {
  const auto before = random_values(4 * 9, 2);
  Tensor t = device_matrix(backend(), before, 4, 9);
  const std::vector<float> inner = {1, 2, 3, 4, 5, 6, 7, 8};
  backend().upload(t.view().cols_slice(3, 2), std::span<const float>(inner));
  const auto after = host_values(backend(), t.view());
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 9; ++c) {
      const float want = (c == 3 || c == 4) ? inner[r * 2 + (c - 3)] : before[r * 9 + c];
      EXPECT_EQ(after[r * 9 + c], want) << r << "," << c;
    }
  }
}

TEST_F(CudaMemory, UploadConvertsHostDtypesExactly) {
  auto f32 = backend().allocate(DType::kF32, 1, 4);
  ASSERT_TRUE(f32.ok());
  const uint16_t bf16[4] = {0x3f80, 0xc000, 0x3e80, 0x0001};  // 1, -2, 0.25, tiny subnormal
  backend().upload(f32->view(), HostMatrix{bf16, HostDType::kBF16, 1, 4});
  auto got = host_values(backend(), f32->view());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], bf16_to_f32(bf16[i])) << i;
  const uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};  // 1, -2, 2^-24, inf
  backend().upload(f32->view(), HostMatrix{f16, HostDType::kF16, 1, 4});
  got = host_values(backend(), f32->view());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], f16_to_f32(f16[i])) << i;
}

// The pipeline's bf16 pixel_values: host bf16 rows copied as they are, into a strided view.
TEST_F(CudaMemory, UploadsBf16HostRowsIntoBf16AsTheyAre) {
  const std::vector<uint16_t> bits = {0x3f80, 0xc000, 0x3e80, 0x0001, 0x7fc1, 0xff80};
  auto wide = backend().allocate(DType::kBF16, 3, 5);
  ASSERT_TRUE(wide.ok());
  Tensor zeros = device_matrix(backend(), std::vector<float>(15, 0.0f), 3, 5);
  backend().copy(wide->view(), zeros.view());
  backend().upload(wide->view().cols_slice(1, 2), HostMatrix{bits.data(), HostDType::kBF16, 3, 2});
  const auto got = host_values(backend(), wide->view());
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 5; ++c) {
      const bool inside = c == 1 || c == 2;
      const uint32_t want =
          inside ? std::bit_cast<uint32_t>(bf16_to_f32(bits[static_cast<size_t>(r * 2 + c - 1)]))
                 : 0u;
      EXPECT_EQ(std::bit_cast<uint32_t>(got[static_cast<size_t>(r * 5 + c)]), want)
          << r << "," << c;
    }
  }
}

TEST_F(CudaMemory, F32ToBf16RoundsToNearestEvenLikeTheHost) {
  const std::vector<float> values = tricky_values();
  const auto n = static_cast<int64_t>(values.size());
  auto bf16 = backend().allocate(DType::kBF16, 1, n);
  ASSERT_TRUE(bf16.ok());
  backend().upload(bf16->view(), std::span<const float>(values));  // host f32 -> device bf16
  const auto uploaded = host_values(backend(), bf16->view());
  Tensor f32 = device_matrix(backend(), values, 1, n);
  backend().copy(bf16->view(), f32.view());  // device f32 -> bf16
  const auto copied = host_values(backend(), bf16->view());
  for (size_t i = 0; i < values.size(); ++i) {
    const uint32_t want = std::bit_cast<uint32_t>(bf16_to_f32(f32_to_bf16(values[i])));
    EXPECT_EQ(std::bit_cast<uint32_t>(uploaded[i]), want) << "upload, value " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(copied[i]), want) << "copy, value " << i;
  }
}

TEST_F(CudaMemory, CopyHandlesStridesInEveryDtypePair) {
  const auto values = random_values(5 * 12, 3, -100.0f, 100.0f);
  Tensor src = device_matrix(backend(), values, 5, 12);
  auto half = backend().allocate(DType::kBF16, 5, 8);
  auto back = backend().allocate(DType::kF32, 5, 4);
  auto half2 = backend().allocate(DType::kBF16, 5, 4);
  ASSERT_TRUE(half.ok() && back.ok() && half2.ok());
  backend().copy(half->view().cols_slice(2, 4), src.view().cols_slice(7, 4));  // f32 -> bf16
  backend().copy(half2->view(), half->view().cols_slice(2, 4));                // bf16 -> bf16
  backend().copy(back->view(), half2->view());                                 // bf16 -> f32
  const auto got = host_values(backend(), back->view());
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(got[r * 4 + c], bf16_to_f32(f32_to_bf16(values[r * 12 + 7 + c])));
    }
  }
  auto dst = backend().allocate(DType::kF32, 5, 3);
  ASSERT_TRUE(dst.ok());
  backend().copy(dst->view(), src.view().cols_slice(1, 3));  // f32 -> f32
  const auto plain = host_values(backend(), dst->view());
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(plain[r * 3 + c], values[r * 12 + 1 + c]);
  }
}

TEST_F(CudaMemory, LargeUploadsCrossStagingChunks) {
  // 3 M values = 12 MB of f32: more than one 8 MB pinned chunk, in both upload paths.
  const int64_t rows = 1500, cols = 2000;
  const auto values = random_values(static_cast<size_t>(rows * cols), 4);
  Tensor f32 = device_matrix(backend(), values, rows, cols);
  EXPECT_EQ(host_values(backend(), f32.view()), values);
  auto bf16 = backend().allocate(DType::kBF16, rows, cols);
  ASSERT_TRUE(bf16.ok());
  backend().upload(bf16->view(), std::span<const float>(values));
  const auto rounded = host_values(backend(), bf16->view());
  for (size_t i = 0; i < values.size(); i += 997) {
    EXPECT_EQ(rounded[i], bf16_to_f32(f32_to_bf16(values[i]))) << i;
  }
  EXPECT_EQ(rounded.back(), bf16_to_f32(f32_to_bf16(values.back())));
}

TEST_F(CudaMemory, AbsurdAllocationIsOutOfMemoryAndLeavesNoErrorBehind) {
  auto huge = backend().allocate(DType::kF32, int64_t{1} << 30, int64_t{1} << 20);  // 4 PiB
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfMemory) << huge.status().to_string();
  EXPECT_NE(huge.status().message().find("[1073741824,1048576]"), std::string::npos);
  auto overflow = backend().allocate(DType::kF32, int64_t{1} << 40, int64_t{1} << 40);
  EXPECT_EQ(overflow.status().code(), StatusCode::kOutOfMemory);
  EXPECT_EQ(backend().allocate(DType::kF32, -1, 4).status().code(), StatusCode::kInvalidArgument);
  // The failed request must not surface later as a device error.
  Tensor t = device_matrix(backend(), {1, 2, 3}, 1, 3);
  backend().add(t.view(), t.view());
  EXPECT_TRUE(backend().synchronize().ok());
  EXPECT_EQ(host_values(backend(), t.view()), (std::vector<float>{2, 4, 6}));
}

TEST_F(CudaMemory, PrepareWeightRejectsEmptyMatrices) {
  auto weight =
      backend().prepare_weight(HostMatrix{nullptr, HostDType::kF32, 2, 2}, Precision::kF32);
  EXPECT_EQ(weight.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CudaMemory, GatherRowsReadsEmbeddingRowsInBothPrecisions) {
  for (const Precision precision : {Precision::kF32, Precision::kBF16}) {
    SCOPED_TRACE(precision_name(precision));
    check_gather_rows(backend(), precision, 5);
  }
}

TEST_F(CudaMemory, PreparedWeightsAreDenseInTheirDtype) {
  const std::vector<float> values = random_values(130 * 37, 6);
  for (const Precision precision : {Precision::kF32, Precision::kBF16}) {
    auto weight =
        backend().prepare_weight(HostMatrix{values.data(), HostDType::kF32, 130, 37}, precision);
    ASSERT_TRUE(weight.ok()) << weight.status().to_string();
    EXPECT_EQ(weight->size_bytes(), size_t{130 * 37} * dtype_size(weight_dtype(precision)));
  }
}

TEST_F(CudaMemory, Bf16AndF16WeightSourcesConvertExactly) {
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4000, 0xbf80, 0x3f00};  // 1, 2, -1, 0.5
  const std::vector<uint16_t> f16 = {0x3c00, 0x4000, 0xbc00, 0x3800};   // the same values
  const std::vector<int32_t> ids = {1, 0};
  for (const HostMatrix host : {HostMatrix{bf16.data(), HostDType::kBF16, 2, 2},
                                HostMatrix{f16.data(), HostDType::kF16, 2, 2}}) {
    for (const Precision precision : {Precision::kF32, Precision::kBF16}) {
      auto weight = backend().prepare_weight(host, precision);
      ASSERT_TRUE(weight.ok());
      auto out = backend().allocate(DType::kF32, 2, 2);
      ASSERT_TRUE(out.ok());
      backend().gather_rows(out->view(), *weight, ids);
      EXPECT_EQ(host_values(backend(), out->view()), (std::vector<float>{-1, 0.5f, 1, 2}));
    }
  }
}

// Page-locked host memory (cudaMallocHost), released with cudaFreeHost.
TEST_F(CudaMemory, DownloadsIntoPageLockedHostBuffers) {
  check_download_into_host_buffer(backend());
}

// The default: a thread per index past the first.
TEST_F(CudaMemory, ParallelForHostRunsEveryIndexOnce) { check_parallel_for_host(backend()); }

// 70 pairs: two kernels of at most 64 copies each.
TEST_F(CudaMemory, CopyBatchCopiesEveryPairAcrossKernels) {
  check_copy_batch(backend(), DType::kBF16, 70);
  check_copy_batch(backend(), DType::kF32, 3);
}

TEST_F(CudaMemory, CopyRowsScattersIntoTheGivenRows) {
  Tensor dst = device_matrix(backend(), std::vector<float>(5 * 2, 0.0f), 5, 2);
  Tensor src = device_matrix(backend(), {1, 2, 3, 4}, 2, 2);
  const std::vector<int64_t> rows = {3, 1};
  backend().copy_rows(dst.view(), src.view(), rows);
  EXPECT_EQ(host_values(backend(), dst.view()), (std::vector<float>{0, 0, 3, 4, 0, 0, 1, 2, 0, 0}));
}

TEST_F(CudaMemory, TablesOfConsecutiveOpsDoNotOverwriteEachOther) {
  // Many gathers queued back to back share the op-table scratch and the pinned ring: each must
  // still see its own ids.
  const int64_t vocab = 50, cols = 8;
  const std::vector<float> table = random_values(vocab * cols, 6);
  auto weight = backend().prepare_weight(HostMatrix{table.data(), HostDType::kF32, vocab, cols},
                                         Precision::kF32);
  ASSERT_TRUE(weight.ok());
  auto out = backend().allocate(DType::kF32, 20, cols);
  ASSERT_TRUE(out.ok());
  for (int32_t step = 0; step < 20; ++step) {
    const std::vector<int32_t> id = {(step * 7) % static_cast<int32_t>(vocab)};
    backend().gather_rows(out->view().rows_slice(step, 1), *weight, id);
  }
  const auto got = host_values(backend(), out->view());
  for (int32_t step = 0; step < 20; ++step) {
    const int32_t id = (step * 7) % static_cast<int32_t>(vocab);
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(got[step * cols + c], table[id * cols + c]);
  }
}

}  // namespace
}  // namespace vcap::tensor::testing
