// gpu_model_bench: the whole Qwen2-VL model on cuda:N for a synthetic clip, per stage (vision,
// prefill, decode) with achieved TFLOP/s and the GEMM MFU (GEMM FLOPs over the dense bf16 peak,
// as issue #7 counts it), plus clips/s for a batch of identical clips. The
// CUDA counterpart of bench/model_bench.cpp (which is CPU-only: it builds the CPU backend and a
// bare oneDNN GEMM); this one needs only the model and the CUDA backend, so the GPU check can
// build it on a machine without oneDNN or FFmpeg.
//
// Usage (Release build, from the repository root):
//   gpu_model_bench [--model DIR] [--work-dir DIR] [--side-files DIR] [--clip-seconds S]
//                   [--precision bf16|f32] [--new-tokens N] [--batch B] [--device N]
//                   [--profile 1] [--prefill-rows N]
// Without --model the random 2B checkpoint (model/test_model.h preset "2b", ~4.4 GB) is
// generated once into --work-dir (default /tmp/vcap_bench_2b). The clip is 1280x720 at fps 4
// after the default resize: grid (2*S, 28, 52); S = 10 gives 29120 patches and 7306 prompt
// tokens (spec's worked example). Random pixel values: only the speed matters. The batch
// decodes B copies of the clip together (continuous batching, as the pipeline does).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"
#include "model/gemm_work.h"
#include "model/generator.h"
#include "model/qwen2vl.h"
#include "model/test_model.h"
#include "tensor/cuda/cuda_backend.h"

namespace {

namespace fs = std::filesystem;
using namespace vcap;  // NOLINT: a benchmark program
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Args {
  fs::path model;
  fs::path work_dir = "/tmp/vcap_bench_2b";
  fs::path side_files = "tests/data/qwen2vl";
  double clip_seconds = 10.0;
  tensor::Precision precision = tensor::Precision::kBF16;
  int64_t new_tokens = 32;
  int64_t batch = 1;
  int device = 0;
  bool profile = false;  // per-op GPU time of the measured run (op_profile.h), printed after it
  int64_t prefill_rows = model::ChunkOptions::for_gpu().prefill_rows;  // as `vcap caption` on a GPU
};

bool parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    if (key == "--model") {
      args.model = value;
    } else if (key == "--work-dir") {
      args.work_dir = value;
    } else if (key == "--side-files") {
      args.side_files = value;
    } else if (key == "--clip-seconds") {
      args.clip_seconds = std::atof(value.c_str());
    } else if (key == "--precision") {
      args.precision = value == "f32" ? tensor::Precision::kF32 : tensor::Precision::kBF16;
    } else if (key == "--new-tokens") {
      args.new_tokens = std::atoll(value.c_str());
    } else if (key == "--batch") {
      args.batch = std::atoll(value.c_str());
    } else if (key == "--device") {
      args.device = std::atoi(value.c_str());
    } else if (key == "--profile") {
      args.profile = value == "1";
    } else if (key == "--prefill-rows") {
      args.prefill_rows = std::atoll(value.c_str());
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && args.clip_seconds >= 0.5 && args.batch >= 1 && args.new_tokens >= 1 &&
         args.prefill_rows >= 1;
}

// Attention FLOPs (Q.K^T and P.V) of the vision tower on `patches` patches in segments of
// `segment` rows, and of the decoder layers for `tokens` new tokens after `past` cached ones;
// the GEMMs are counted by model/gemm_work.h, as `vcap bench` counts them.
double vision_attention_flops(const model::VisionDims& v, int64_t patches, int64_t segment) {
  return static_cast<double>(patches) * v.depth * 2.0 * 2.0 * segment * v.embed_dim;
}

double text_attention_flops(const model::TextDims& t, int64_t tokens, int64_t past) {
  const double keys = past + (tokens + 1) / 2.0;
  return static_cast<double>(t.num_layers) * tokens * 2.0 * 2.0 * keys * t.q_dim();
}

// The dense bf16 tensor-core peak (f32 accumulation) of `device` in FLOP/s and where the figure
// comes from: NVIDIA's datasheet for the data-centre GPUs of the issue (the clock the driver
// reports is the boost maximum, above the datasheet's), else SMs x clock x the per-SM rate of
// sm_80 (2048 FLOP/clock) or sm_90 (4096); 0 when unknown.
double bf16_dense_peak(int device, std::string& source) {
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, device) != cudaSuccess) {
    source = "unknown (cudaGetDeviceProperties failed)";
    return 0.0;
  }
  const std::string name = props.name;
  const auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  source = "datasheet";
  if (has("H100") && has("PCIe")) return 756e12;
  if (has("H100") || has("H200") || has("H800") || has("GH200")) return 989.4e12;
  if (has("A100") || has("A800")) return 312e12;
  int clock_khz = 0;
  const int per_sm = props.major == 9 ? 4096 : (props.major == 8 && props.minor == 0 ? 2048 : 0);
  if (per_sm == 0 ||
      cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device) != cudaSuccess) {
    source = "unknown for " + name;
    return 0.0;
  }
  source = "SMs x boost clock x " + std::to_string(per_sm) + " FLOP/clock";
  return static_cast<double>(props.multiProcessorCount) * clock_khz * 1e3 * per_sm;
}

int fail(const Status& status) {
  std::fprintf(stderr, "gpu_model_bench: %s\n", status.to_string().c_str());
  return 1;
}

fs::path ensure_model(const Args& args) {
  if (!args.model.empty()) return args.model;
  if (fs::exists(args.work_dir / "config.json")) return args.work_dir;
  std::printf("generating the random 2B checkpoint into %s ...\n", args.work_dir.c_str());
  model::MakeTestModelOptions options;
  options.side_files_dir = args.side_files;
  options.threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  const auto start = Clock::now();
  const Status s = model::make_test_model(*model::test_model_preset("2b"), args.work_dir, options);
  if (!s.ok()) return fs::path();
  std::printf("generated in %.1f s\n", seconds_since(start));
  return args.work_dir;
}

model::GenerationRequest synthetic_clip(const model::Qwen2VL& m, const model::VisionGrid& grid,
                                        int64_t new_tokens, uint64_t id) {
  const model::VisionDims& v = m.dims().vision;
  // Random frames through the processor, in the dtype the pipeline prepares them in.
  const int64_t frames = grid.t * v.temporal_patch_size;
  const int64_t height = grid.h * v.patch_size;
  const int64_t width = grid.w * v.patch_size;
  std::vector<uint8_t> rgb(static_cast<size_t>(frames * 3 * height * width));
  std::mt19937 rng(1);
  for (uint8_t& x : rgb) x = static_cast<uint8_t>(rng());
  model::PreprocessorConfig preprocessor;
  preprocessor.patch_size = v.patch_size;
  preprocessor.temporal_patch_size = v.temporal_patch_size;
  preprocessor.merge_size = v.merge_size;
  Result<model::PixelValues> pixels =
      model::preprocess_video({rgb.data(), frames, height, width}, preprocessor, m.pixel_dtype());
  VCAP_CHECK(pixels.ok(), pixels.status().to_string().c_str());
  // spec §13.1 layout: 15 text tokens before the video, the pads, then the question.
  std::vector<model::TokenId> ids(14, 872);
  ids.push_back(m.dims().tokens.vision_start);
  ids.insert(ids.end(), static_cast<size_t>(grid.num_tokens(v.merge_size)),
             m.dims().tokens.video_pad);
  ids.push_back(151653);
  ids.insert(ids.end(), 10, 872);
  model::GenerationRequest request;
  request.id = id;
  request.input_ids = std::move(ids);
  request.video_grids = {grid};
  request.pixel_values = std::move(*pixels);
  request.sampling.eos_ids.clear();  // always generate new_tokens tokens
  request.sampling.max_new_tokens = new_tokens;
  return request;
}

int run(const Args& args) {
  std::printf("# gpu_model_bench on %s\n", tensor::cuda_device_summary().c_str());
  const fs::path dir = ensure_model(args);
  if (dir.empty()) return fail(Status::internal("could not generate the 2B checkpoint"));
  auto backend = tensor::make_cuda_backend(tensor::CudaBackendOptions{args.device, args.profile});
  if (!backend.ok()) return fail(backend.status());
  auto start = Clock::now();
  auto loaded = model::Qwen2VL::load(dir, **backend, args.precision);
  if (!loaded.ok()) return fail(loaded.status());
  loaded->set_chunks({model::ChunkOptions::for_gpu().vision_rows, args.prefill_rows});
  const model::Qwen2VL& m = *loaded;
  std::printf(
      "model %s, %s, loaded in %.1f s, weights %.2f GiB, backend %s, chunks: vision %lld "
      "rows, prefill %lld rows\n",
      dir.c_str(), tensor::precision_name(args.precision), seconds_since(start),
      m.weight_bytes() / 1073741824.0, (*backend)->name().c_str(),
      static_cast<long long>(m.chunks().vision_rows),
      static_cast<long long>(m.chunks().prefill_rows));

  const model::VisionGrid grid{std::max<int64_t>(1, std::llround(args.clip_seconds * 2)), 28, 52};
  // Warm-up: one short clip (plans, pools, kernel loading stay out of the numbers).
  {
    model::Generator warm(m, {1});
    if (Status s = warm.add(synthetic_clip(m, {1, 28, 52}, 2, 0)); !s.ok()) return fail(s);
    while (!warm.idle()) {
      auto step = warm.step();
      if (!step.ok()) return fail(step.status());
    }
  }
  if (args.profile) tensor::cuda_profile_report(**backend, /*restart=*/true);  // not the warm-up
  model::Generator generator(m, {args.batch});
  for (int64_t b = 0; b < args.batch; ++b) {
    if (Status s = generator.add(synthetic_clip(m, grid, args.new_tokens, b)); !s.ok()) {
      return fail(s);
    }
  }
  start = Clock::now();
  const auto unix_seconds = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double window_begin = unix_seconds();
  while (!generator.idle()) {
    auto step = generator.step();
    if (!step.ok()) return fail(step.status());
    for (const auto& r : *step) {
      if (!r.status.ok()) return fail(r.status);
    }
  }
  const double total = seconds_since(start);
  // For matching samples taken outside the process (bench/gpu_check.sh's nvidia-smi sampling).
  std::printf("measured window (unix s): %.3f %.3f\n", window_begin, unix_seconds());
  const model::StageTimes& t = generator.times();
  const model::VisionDims& v = m.dims().vision;
  const model::TextDims& text = m.dims().text;
  const int64_t prompt = t.prompt_tokens / args.batch;
  const double vision_gemm = args.batch * model::vision_gemm_flops(v, grid.num_patches());
  const double prefill_gemm = args.batch * model::decoder_gemm_flops(text, prompt);
  const double vf =
      vision_gemm + args.batch * vision_attention_flops(v, grid.num_patches(), grid.h * grid.w);
  const double pf = prefill_gemm + args.batch * text_attention_flops(text, prompt, 0);
  const double df = args.batch * t.decode_steps *
                    (model::decoder_gemm_flops(text, 1) +
                     text_attention_flops(text, 1, prompt + t.decode_steps / 2));
  // MFU as the issue counts it: GEMM FLOPs only, over the dense bf16 peak.
  std::string peak_source;
  const double peak = bf16_dense_peak(args.device, peak_source);
  const auto mfu = [&](double gemm_flops, double seconds) {
    return peak > 0.0 ? std::to_string(
                            static_cast<int>(std::lround(100.0 * gemm_flops / seconds / peak))) +
                            "%"
                      : std::string("n/a");
  };
  std::printf(
      "clip %.1f s: grid (%lld, %lld, %lld), %lld prompt tokens, batch %lld, %lld new "
      "tokens each; bf16 dense peak %.0f TFLOP/s (%s)\n\n"
      "| stage | seconds | work | TFLOP/s (GEMMs + attention) | GEMM TFLOP/s | GEMM MFU |"
      "\n|---|---|---|---|---|---|\n",
      args.clip_seconds, static_cast<long long>(grid.t), static_cast<long long>(grid.h),
      static_cast<long long>(grid.w), static_cast<long long>(prompt),
      static_cast<long long>(args.batch), static_cast<long long>(args.new_tokens), peak / 1e12,
      peak_source.c_str());
  std::printf("| vision | %.3f | %lld patches | %.1f | %.1f | %s |\n", t.vision_s,
              static_cast<long long>(t.vision_patches), vf / t.vision_s / 1e12,
              vision_gemm / t.vision_s / 1e12, mfu(vision_gemm, t.vision_s).c_str());
  std::printf("| prefill | %.3f | %lld tokens | %.1f | %.1f | %s |\n", t.prefill_s,
              static_cast<long long>(t.prompt_tokens), pf / t.prefill_s / 1e12,
              prefill_gemm / t.prefill_s / 1e12, mfu(prefill_gemm, t.prefill_s).c_str());
  std::printf("| decode | %.3f | %lld steps (%.2f ms/step) | %.2f | | |\n", t.decode_s,
              static_cast<long long>(t.decode_steps),
              1e3 * t.decode_s / std::max<int64_t>(1, t.decode_steps), df / t.decode_s / 1e12);
  const double steps = static_cast<double>(std::max<int64_t>(1, t.decode_steps));
  const double waiting_s = t.decode_s - t.decode_issue_s - t.decode_select_s;
  // The host issues while the GPU runs: where it waits for the GPU less than a tenth of the
  // step, the GPU was kept waiting for the launches instead.
  const char* bound = waiting_s < 0.1 * t.decode_s ? "launch-bound: the GPU waits for the host"
                                                   : "the GPU's own time decides the step";
  std::printf(
      "\ndecode step on the host: %.3f ms issuing its kernels, %.3f ms choosing the tokens "
      "(%lld of %lld tokens chosen from the whole row on the host), %.3f ms waiting for the "
      "GPU (%s)\n",
      1e3 * t.decode_issue_s / steps, 1e3 * t.decode_select_s / steps,
      static_cast<long long>(t.tokens_chosen_on_host), static_cast<long long>(t.generated_tokens),
      1e3 * waiting_s / steps, bound);
  std::printf("\ntotal %.2f s: %.2f clips/s (at %lld new tokens per clip)\n", total,
              args.batch / total, static_cast<long long>(args.new_tokens));
  if (args.profile) {
    std::printf(
        "\n## GPU time per op (profiled: events around every op slow the run a little)"
        "\n\n%s",
        tensor::cuda_profile_report(**backend).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A line at a time: gpu_check.sh's time limit (SIGTERM) or an abort must not lose the
  // buffered tables of a run that has never been seen on a GPU.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: gpu_model_bench [--model DIR] [--work-dir DIR] [--side-files DIR] "
                 "[--clip-seconds S] [--precision bf16|f32] [--new-tokens N] [--batch B] "
                 "[--device N] [--profile 1] [--prefill-rows N]\n");
    return 2;
  }
  return run(args);
}
