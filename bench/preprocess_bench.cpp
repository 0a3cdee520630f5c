// The host's pixel work per clip after decoding: preprocess_video on a default 10 s 720p clip's
// frames (40 frames of 392x728: 29120 patch rows of 1176 values), writing f32 (an f32 model)
// or bf16 (a bf16 model, the default: half the bytes). On a GPU machine this runs on the decode
// threads for every clip, beside the FFmpeg decode, so it is part of what keeps the GPU fed.
// BM_FreshBuffer* isolate what a fresh buffer of that size costs before any value is written
// (page faults, zeroing), plainly allocated and on advised huge pages (base/huge_pages.h).
// Run from a Release build: build/release/bench/preprocess_bench.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "base/huge_pages.h"
#include "model/processor.h"
#include "tensor/dtype.h"

namespace {

using vcap::model::PixelValues;
using vcap::model::PreprocessorConfig;
using vcap::model::VideoFramesView;
using vcap::tensor::HostDType;

constexpr int64_t kFrames = 40;
constexpr int64_t kHeight = 392;
constexpr int64_t kWidth = 728;

const std::vector<uint8_t>& frames() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> out(static_cast<size_t>(kFrames * 3 * kHeight * kWidth));
    std::mt19937 rng(1);
    for (uint8_t& x : out) x = static_cast<uint8_t>(rng());
    return out;
  }();
  return bytes;
}

void run(benchmark::State& state, HostDType dtype) {
  const VideoFramesView view{frames().data(), kFrames, kHeight, kWidth};
  const PreprocessorConfig config;
  int64_t bytes = 0;
  for (auto _ : state) {
    vcap::Result<PixelValues> pixels = vcap::model::preprocess_video(view, config, dtype);
    if (!pixels.ok()) {
      state.SkipWithError(pixels.status().to_string().c_str());
      return;
    }
    bytes = static_cast<int64_t>(pixels->rows * pixels->cols *
                                 static_cast<int64_t>(vcap::tensor::host_dtype_size(dtype)));
    benchmark::DoNotOptimize(pixels->matrix().data);
  }
  state.counters["MB_out"] = static_cast<double>(bytes) / 1e6;
}

void BM_PreprocessClipF32(benchmark::State& state) { run(state, HostDType::kF32); }
void BM_PreprocessClipBf16(benchmark::State& state) { run(state, HostDType::kBF16); }

// A bf16 clip's pixel buffer, zero-filled: the memory cost alone.
constexpr size_t kBf16Values = size_t{29120} * 1176;

void BM_FreshBufferPlain(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<uint16_t> values(kBf16Values);
    benchmark::DoNotOptimize(values.data());
  }
}

void BM_FreshBufferOnHugePages(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<uint16_t> values;
    vcap::reserve_on_huge_pages(values, kBf16Values);
    values.resize(kBf16Values);
    benchmark::DoNotOptimize(values.data());
  }
}

BENCHMARK(BM_PreprocessClipF32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PreprocessClipBf16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FreshBufferPlain)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FreshBufferOnHugePages)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
