// Qwen2VL::estimate_memory_bytes is what the pipeline's memory gate admits clips by: the device
// memory a clip's forward passes hold at once must stay within it, or a clip the gate let in
// runs out of memory. Measured here on the CPU backend with buffers of our own
// (counting_backend.h), so that every byte allocated and freed is seen.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "model/counting_backend.h"
#include "model/generator.h"
#include "model/pico_model_test.h"
#include "model/qwen2vl.h"

namespace vcap::model {
namespace {

using testing::CountingBackend;

class MemoryEstimate : public testing::PicoModelTest<MemoryEstimate> {};

// One clip of `grid`: random pixel values, the prompt <|vision_start|> pads <|vision_end|>
// between two text tokens.
GenerationRequest clip_request(const ModelDims& dims, VisionGrid grid, int64_t new_tokens) {
  GenerationRequest request;
  request.video_grids = {grid};
  PixelValues& pixels = request.pixel_values;
  pixels.rows = grid.num_patches();
  pixels.cols = dims.vision.patch_features();
  pixels.grid_thw = {grid.t, grid.h, grid.w};
  std::mt19937 random(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  pixels.values.resize(static_cast<size_t>(pixels.rows * pixels.cols));
  for (float& v : pixels.values) v = value(random);
  request.input_ids = {100, dims.tokens.vision_start};
  request.input_ids.insert(request.input_ids.end(),
                           static_cast<size_t>(grid.num_tokens(dims.vision.merge_size)),
                           dims.tokens.video_pad);
  request.input_ids.insert(request.input_ids.end(), {151653, 101});  // <|vision_end|>
  request.sampling.max_new_tokens = new_tokens;
  request.sampling.eos_ids.clear();
  return request;
}

// GPU-sized chunks (8192 prompt rows) and a vision chunk smaller than one frame pair (as a
// 1080p clip's 10336 patches against 8192): the estimate counted a chunk of prompt rows but
// the model allocated 8192 of them, and it counted a vision chunk where the model takes the
// whole frame pair.
TEST_F(MemoryEstimate, OneClipStaysWithinItsEstimate) {
  for (const tensor::Precision precision : {tensor::Precision::kF32, tensor::Precision::kBF16}) {
    SCOPED_TRACE(precision == tensor::Precision::kF32 ? "f32" : "bf16");
    CountingBackend backend;
    Result<Qwen2VL> loaded = Qwen2VL::load(model(), backend, precision);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    loaded->set_chunks({16, 8192});
    const ModelDims& dims = loaded->dims();
    const VisionGrid grid{2, 32, 32};  // frame pairs of 1024 patches, 64 vision chunks' worth
    GenerationRequest request = clip_request(dims, grid, 4);

    MemoryPlan plan;
    plan.vision_patches = grid.num_patches();
    plan.vision_segment_patches = grid.h * grid.w;
    plan.prompt_tokens = static_cast<int64_t>(request.input_ids.size());
    plan.max_new_tokens = 4;
    const int64_t estimate = loaded->estimate_memory_bytes(plan) - loaded->weight_bytes() -
                             loaded->pixel_values_bytes(plan.vision_patches);

    backend.peak = backend.live;
    const int64_t before = backend.live;
    Result<GenerationResult> result = loaded->generate(std::move(request));
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    EXPECT_EQ(result->generated_ids.size(), 4u);
    EXPECT_LE(backend.peak - before, estimate);
  }
}

// Runs `requests` (ids 0, 1, ...) through a generator of batches of `max_batch` on `model`.
std::map<uint64_t, GenerationResult> run_all(const Qwen2VL& model,
                                             std::vector<GenerationRequest> requests,
                                             int64_t max_batch) {
  Generator generator(model, {max_batch});
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].id = i;
    EXPECT_TRUE(generator.add(std::move(requests[i])).ok());
  }
  std::map<uint64_t, GenerationResult> results;
  while (!generator.idle()) {
    auto finished = generator.step();
    EXPECT_TRUE(finished.ok()) << finished.status().to_string();
    if (!finished.ok()) break;
    for (auto& r : *finished) results[r.id] = std::move(r);
  }
  return results;
}

// Two clips whose vision pass together does not fit but one at a time does (a GPU nearly
// full): the batch is retried clip by clip and both get their caption. Before, both failed
// out_of_memory.
TEST_F(MemoryEstimate, ABatchOutOfMemoryInItsVisionPassIsRetriedClipByClip) {
  CountingBackend backend;
  Result<Qwen2VL> loaded = Qwen2VL::load(model(), backend, tensor::Precision::kF32);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const auto two_clips = [&] {
    const VisionGrid grid{2, 32, 32};
    return std::vector<GenerationRequest>{clip_request(loaded->dims(), grid, 3),
                                          clip_request(loaded->dims(), grid, 3)};
  };
  const int64_t before = backend.live;
  backend.peak = before;
  const auto alone = run_all(*loaded, two_clips(), 1);
  const int64_t one_at_a_time = backend.peak - before;
  backend.peak = before;
  const auto together = run_all(*loaded, two_clips(), 2);
  const int64_t batched = backend.peak - before;
  ASSERT_EQ(alone.size(), 2u);
  ASSERT_EQ(together.size(), 2u);
  for (uint64_t id : {0u, 1u}) EXPECT_EQ(together.at(id).generated_ids, alone.at(id).generated_ids);
  // The second clip's vision pass runs beside the first's KV cache: half way is room enough.
  ASSERT_LT(one_at_a_time, batched);
  backend.limit = before + (one_at_a_time + batched) / 2;
  const auto retried = run_all(*loaded, two_clips(), 2);
  EXPECT_GT(backend.refused, 0);
  ASSERT_EQ(retried.size(), 2u);
  for (uint64_t id : {0u, 1u}) {
    EXPECT_TRUE(retried.at(id).status.ok()) << retried.at(id).status.to_string();
    EXPECT_EQ(retried.at(id).generated_ids, alone.at(id).generated_ids);
  }
}

}  // namespace
}  // namespace vcap::model
