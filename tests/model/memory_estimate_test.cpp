// Qwen2VL::estimate_memory_bytes is what the pipeline's memory gate admits clips by: the device
// memory a clip's forward passes hold at once must stay within it, or a clip the gate let in
// runs out of memory (and takes its batch with it). Measured here on the CPU backend with
// buffers of our own, so that every byte allocated and freed is seen.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "model/forwarding_backend.h"
#include "model/pico_model_test.h"
#include "model/qwen2vl.h"

namespace vcap::model {
namespace {

// Counts the bytes of the tensors alive, and their peak.
class CountingBackend : public testing::ForwardingBackend {
 public:
  int64_t live = 0;
  int64_t peak = 0;

  Result<tensor::Tensor> allocate(tensor::DType dtype, int64_t rows, int64_t cols) override {
    const int64_t bytes = rows * cols * static_cast<int64_t>(tensor::dtype_size(dtype));
    return tensor::Tensor(std::make_unique<CountedBuffer>(bytes, *this), dtype, rows, cols);
  }

 private:
  class CountedBuffer : public tensor::Buffer {
   public:
    CountedBuffer(int64_t bytes, CountingBackend& owner)
        : bytes_(bytes),
          memory_(static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 127) / 64 * 64))),
          owner_(owner) {
      owner_.live += bytes_;
      owner_.peak = std::max(owner_.peak, owner_.live);
    }
    ~CountedBuffer() override {
      owner_.live -= bytes_;
      std::free(memory_);
    }
    std::byte* data() const override { return memory_; }
    size_t size_bytes() const override { return static_cast<size_t>(bytes_); }

   private:
    int64_t bytes_;
    std::byte* memory_;
    CountingBackend& owner_;
  };
};

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

}  // namespace
}  // namespace vcap::model
