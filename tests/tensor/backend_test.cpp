// Memory, transfers, weights and the factory of the CPU backend.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tensor/cpu/backend_factory.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor_test_util.h"

namespace vcap::tensor {
namespace {

using testing::host_values;
using testing::KernelPath;
using testing::make_test_backend;

TEST(MakeBackend, CudaIsUnsupportedInThisBuild) {
  if (cuda_backend_compiled()) GTEST_SKIP() << "this build has the CUDA backend (tests/gpu)";
  auto backend = make_backend({.device = "cuda:0"});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(backend.status().message(),
            "this vcap build has no CUDA backend (built without nvcc: install the CUDA toolkit and "
            "rerun scripts/build.sh)");
}

TEST(MakeBackend, RejectsUnknownDevicesAndNegativeThreads) {
  EXPECT_EQ(make_backend({.device = "tpu"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_backend({.device = "cpu", .threads = -1}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(MakeBackend, CreatesTheCpuBackend) {
  auto backend = make_backend({.device = "cpu", .threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_EQ((*backend)->name(), "cpu");
  EXPECT_TRUE((*backend)->synchronize().ok());
}

// Its tensors live in host memory: the run's budget comes from the machine's free memory.
TEST(CpuBackend, HasNoDeviceMemoryOfItsOwn) {
  auto backend = make_backend({.device = "cpu", .threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  EXPECT_FALSE((*backend)->device_memory_free().has_value());
}

TEST(CpuBackend, AllocatesContiguousTensors) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  auto tensor = backend->allocate(DType::kBF16, 3, 5);
  ASSERT_TRUE(tensor.ok());
  EXPECT_EQ(tensor->rows(), 3);
  EXPECT_EQ(tensor->cols(), 5);
  EXPECT_EQ(tensor->view().row_stride, 5);
  EXPECT_EQ(tensor->view().dtype, DType::kBF16);
  EXPECT_GE(tensor->size_bytes(), 30u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor->view().data) % 64, 0u);
  Tensor moved = std::move(*tensor);
  EXPECT_FALSE(moved.empty());
}

TEST(CpuBackend, AbsurdAllocationIsOutOfMemoryNotAnAbort) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  auto huge = backend->allocate(DType::kF32, int64_t{1} << 30, int64_t{1} << 20);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(huge.status().message().find("[1073741824,1048576]"), std::string::npos);
  auto overflow = backend->allocate(DType::kF32, int64_t{1} << 40, int64_t{1} << 40);
  EXPECT_EQ(overflow.status().code(), StatusCode::kOutOfMemory);
  EXPECT_EQ(backend->allocate(DType::kF32, -1, 4).status().code(), StatusCode::kInvalidArgument);
}

TEST(CpuBackend, UploadConvertsHostDtypes) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  auto f32 = backend->allocate(DType::kF32, 1, 3);
  ASSERT_TRUE(f32.ok());
  const uint16_t bf16[3] = {0x3f80, 0xc000, 0x3e80};  // 1, -2, 0.25
  backend->upload(f32->view(), HostMatrix{bf16, HostDType::kBF16, 1, 3});
  EXPECT_EQ(host_values(*backend, f32->view()), (std::vector<float>{1.0f, -2.0f, 0.25f}));
  const uint16_t f16[3] = {0x3c00, 0xc000, 0x3400};  // 1, -2, 0.25
  backend->upload(f32->view(), HostMatrix{f16, HostDType::kF16, 1, 3});
  EXPECT_EQ(host_values(*backend, f32->view()), (std::vector<float>{1.0f, -2.0f, 0.25f}));
}

TEST(CpuBackend, UploadToBf16RoundsAndDownloadWidens) {
  for (const KernelPath path : {KernelPath::kAvx512, KernelPath::kPortable}) {
    auto backend = make_test_backend(path);
    const std::vector<float> values = testing::random_values(37, 1);
    auto tensor = backend->allocate(DType::kBF16, 1, 37);
    ASSERT_TRUE(tensor.ok());
    backend->upload(tensor->view(), std::span<const float>(values));
    const std::vector<float> back = host_values(*backend, tensor->view());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(back[i], bf16_to_f32(f32_to_bf16(values[i]))) << i;
    }
  }
}

TEST(CpuBackend, PrepareWeightRejectsEmptyMatrices) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  auto weight =
      backend->prepare_weight(HostMatrix{nullptr, HostDType::kF32, 2, 2}, Precision::kF32);
  EXPECT_EQ(weight.status().code(), StatusCode::kInvalidArgument);
}

TEST(CpuBackend, GatherRowsReadsEmbeddingRowsInBothPrecisions) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  for (const Precision precision : {Precision::kF32, Precision::kBF16}) {
    SCOPED_TRACE(precision_name(precision));
    testing::check_gather_rows(*backend, precision, 2);
  }
}

TEST(CpuBackendDeathTest, GatherRowsAbortsOnAnIdOutsideTheTable) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  const std::vector<float> table(4 * 2, 1.0f);
  auto weight =
      backend->prepare_weight(HostMatrix{table.data(), HostDType::kF32, 4, 2}, Precision::kF32);
  ASSERT_TRUE(weight.ok());
  auto out = backend->allocate(DType::kF32, 1, 2);
  ASSERT_TRUE(out.ok());
  const std::vector<int32_t> ids = {4};
  EXPECT_DEATH(backend->gather_rows(out->view(), *weight, ids), "outside the table");
}

TEST(CpuBackend, CopyHandlesStridesAndConversions) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  const std::vector<float> values = testing::random_values(4 * 6, 3);
  Tensor src = testing::device_matrix(*backend, values, 4, 6);
  auto dst = backend->allocate(DType::kF32, 4, 3);
  ASSERT_TRUE(dst.ok());
  backend->copy(dst->view(), src.view().cols_slice(2, 3));
  const std::vector<float> got = host_values(*backend, dst->view());
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(got[r * 3 + c], values[r * 6 + 2 + c]);
  }
  auto half = backend->allocate(DType::kBF16, 4, 6);
  ASSERT_TRUE(half.ok());
  backend->copy(half->view(), src.view());
  const std::vector<float> rounded = host_values(*backend, half->view());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(rounded[i], bf16_to_f32(f32_to_bf16(values[i])));
  }
}

TEST(CpuBackend, DownloadsIntoHostBuffers) {
  testing::check_download_into_host_buffer(*make_test_backend(KernelPath::kAvx512));
}

TEST(CpuBackend, ParallelForHostRunsEveryIndexOnceOnItsThreads) {
  auto backend = make_backend({.device = "cpu", .threads = 2});
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  testing::check_parallel_for_host(**backend);
}

TEST(CpuBackend, CopyBatchCopiesEveryPair) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  testing::check_copy_batch(*backend, DType::kBF16, 70);
  testing::check_copy_batch(*backend, DType::kF32, 3);
}

TEST(CpuBackend, CopyRowsScattersIntoTheGivenRows) {
  auto backend = make_test_backend(KernelPath::kAvx512);
  Tensor dst = testing::device_matrix(*backend, std::vector<float>(5 * 2, 0.0f), 5, 2);
  Tensor src = testing::device_matrix(*backend, {1, 2, 3, 4}, 2, 2);
  const std::vector<int64_t> rows = {3, 1};
  backend->copy_rows(dst.view(), src.view(), rows);
  EXPECT_EQ(host_values(*backend, dst.view()), (std::vector<float>{0, 0, 3, 4, 0, 0, 1, 2, 0, 0}));
}

}  // namespace
}  // namespace vcap::tensor
