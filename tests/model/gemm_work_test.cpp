#include "model/gemm_work.h"

#include <gtest/gtest.h>

namespace vcap::model {
namespace {

// The 2B dims are ModelDims' defaults; parameter counts below are those of the published
// Qwen2-VL-2B checkpoint's matrices.
TEST(GemmWork, DecodeStreamsEveryDecoderMatrixAndTheHead) {
  const TextDims text;
  // 28 layers x 46,792,704 matrix values + the 1536 x 151936 head.
  const double values = 28.0 * 46'792'704 + 1536.0 * 151'936;
  EXPECT_DOUBLE_EQ(decode_step_bytes(text, tensor::DType::kBF16, 0), 2 * values);
  EXPECT_DOUBLE_EQ(decode_step_bytes(text, tensor::DType::kF32, 0), 4 * values);
  // Plus K and V of every cached token, in the same dtype: 28 layers x 2 x 256 values.
  EXPECT_DOUBLE_EQ(decode_step_bytes(text, tensor::DType::kBF16, 1000) -
                       decode_step_bytes(text, tensor::DType::kBF16, 0),
                   1000.0 * 28 * 2 * 256 * 2);
}

TEST(GemmWork, DecoderFlopsAreTwicePerTokenParameters) {
  const TextDims text;
  EXPECT_DOUBLE_EQ(decoder_gemm_flops(text, 10), 2.0 * 10 * 28 * 46'792'704);
  EXPECT_DOUBLE_EQ(lm_head_flops(text, 3), 2.0 * 3 * 1536 * 151'936);
  ASSERT_EQ(decoder_layer_gemms(text).size(), 4u);
  EXPECT_EQ(decoder_layer_gemms(text)[0].n, 1536 + 2 * 256);  // fused q, k, v
}

TEST(GemmWork, VisionFlopsCountEmbeddingBlocksAndMerger) {
  const VisionDims vision;
  const double embed = 1176.0 * 1280;
  const double blocks = 32.0 * (1280.0 * 3840 + 1280.0 * 1280 + 2 * 1280.0 * 5120);
  const double merger_per_token = 5120.0 * 5120 + 5120.0 * 1536;
  EXPECT_DOUBLE_EQ(vision_gemm_flops(vision, 8),
                   2.0 * 8 * (embed + blocks) + 2.0 * 2 * merger_per_token);
}

}  // namespace
}  // namespace vcap::model
