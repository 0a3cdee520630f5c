// The chunk sizes the captioner gives the model per device (model_captioner.h): the CPU keeps the
// defaults (activation memory is the machine's), a GPU takes model::ChunkOptions::for_gpu().
#include "pipeline/model_captioner.h"

#include <gtest/gtest.h>

namespace vcap::pipeline {
namespace {

TEST(ChunksForDevice, CpuKeepsTheDefaultsAndGpusTakeLargePrefillChunks) {
  const model::ChunkOptions defaults;
  const model::ChunkOptions cpu = chunks_for_device("cpu");
  EXPECT_EQ(cpu.vision_rows, defaults.vision_rows);
  EXPECT_EQ(cpu.prefill_rows, defaults.prefill_rows);
  for (const char* device : {"cuda", "cuda:0", "cuda:3"}) {
    const model::ChunkOptions gpu = chunks_for_device(device);
    EXPECT_EQ(gpu.vision_rows, model::ChunkOptions::for_gpu().vision_rows) << device;
    EXPECT_EQ(gpu.prefill_rows, model::ChunkOptions::for_gpu().prefill_rows) << device;
    // The default 10 s clip's 7,306-token prompt in one chunk.
    EXPECT_GE(gpu.prefill_rows, 7306) << device;
  }
}

}  // namespace
}  // namespace vcap::pipeline
