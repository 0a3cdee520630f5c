// model_bench: the whole Qwen2-VL model on a synthetic clip, per stage (vision, prefill,
// decode) with achieved GFLOP/s, next to a bare oneDNN GEMM on the model's main shapes measured
// in the same run (the method of bench/gemm_bench.cpp: inputs already in the compute dtype,
// weights reordered to oneDNN's preferred layout), plus peak RSS.
//
// Usage (Release build):
//   model_bench [--model DIR] [--work-dir DIR] [--side-files DIR] [--clip-seconds S]
//               [--precision bf16|f32] [--threads N] [--new-tokens N]
// Without --model the random 2B checkpoint (model/test_model.h preset "2b") is generated once
// into --work-dir (default /tmp/vcap_bench_2b; ~4.4 GB). The clip is 1280x720 at fps 4 after
// the default resize: grid (2*S, 28, 52); S = 10 is the spec's worked example (29120 patches,
// 7280 video tokens, 7306 prompt tokens). Random pixel values: only the speed matters.
// Not a test: numbers depend on the machine (name it when recording bench/results).
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/generator.h"
#include "model/qwen2vl.h"
#include "model/test_model.h"
#include "tensor/cpu/backend_factory.h"

namespace {

namespace fs = std::filesystem;
using namespace vcap;  // NOLINT: a benchmark program
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / (1024.0 * 1024.0);  // ru_maxrss is in KiB
}

struct Args {
  fs::path model;
  fs::path work_dir = "/tmp/vcap_bench_2b";
  fs::path side_files = "tests/data/qwen2vl";  // tokenizer and configs (run from the repo root)
  double clip_seconds = 10.0;
  tensor::Precision precision = tensor::Precision::kBF16;
  int threads = 0;
  int64_t new_tokens = 16;
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
    } else if (key == "--threads") {
      args.threads = std::atoi(value.c_str());
    } else if (key == "--new-tokens") {
      args.new_tokens = std::atoll(value.c_str());
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && args.clip_seconds >= 0.5;
}

// Bare oneDNN out[m, n] = in[m, k] * W[k, n]: GFLOP/s, best of `repeats`.
double onednn_gflops(int64_t m, int64_t k, int64_t n, tensor::Precision precision, int repeats) {
  using dnnl::memory;
  const auto dt =
      precision == tensor::Precision::kF32 ? memory::data_type::f32 : memory::data_type::bf16;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src_md({m, k}, dt, memory::format_tag::ab);
  const memory::desc any_weights({k, n}, dt, memory::format_tag::any);
  const memory::desc dst_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_weights, dst_md), engine);
  memory plain({{k, n}, dt, memory::format_tag::ba}, engine);
  memory weights(pd.weights_desc(), engine);
  const memory src(src_md, engine), dst(dst_md, engine);
  const size_t element = dt == memory::data_type::f32 ? 4 : 2;
  std::memset(plain.get_data_handle(), 0x3c, static_cast<size_t>(k * n) * element);
  std::memset(src.get_data_handle(), 0x3c, static_cast<size_t>(m * k) * element);
  dnnl::reorder(plain, weights).execute(stream, plain, weights);
  const dnnl::matmul matmul(pd);
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
    best = std::min(best, seconds_since(start));
  }
  return 2.0 * m * k * n / best / 1e9;
}

// FLOPs of the vision tower on `patches` patches in segments of `segment` rows.
double vision_flops(const model::VisionDims& v, int64_t patches, int64_t segment) {
  const double e = v.embed_dim;
  const double per_patch_block = 2 * e * 3 * e + 2 * e * e + 2 * 2 * e * v.mlp_hidden;
  const double attention = 2.0 * 2.0 * segment * e;  // q·k and p·v per patch per block
  const double merger = 2.0 * v.merged_dim() * v.merged_dim() + 2.0 * v.merged_dim() * v.out_hidden;
  return patches * (2.0 * v.patch_features() * e + v.depth * (per_patch_block + attention)) +
         patches / 4.0 * merger;
}

// FLOPs of the decoder layers for `tokens` new tokens after `past` cached ones (no lm_head).
double text_flops(const model::TextDims& t, int64_t tokens, int64_t past) {
  const double h = t.hidden_size;
  const double per_token =
      2 * h * (t.q_dim() + 2 * t.kv_dim()) + 2.0 * t.q_dim() * h + 2 * 3 * h * t.intermediate_size;
  const double keys = past + (tokens + 1) / 2.0;  // average keys seen (causal)
  return t.num_layers * tokens * (per_token + 2.0 * 2.0 * keys * t.q_dim());
}

int run(const Args& args) {
  fs::path dir = args.model;
  if (dir.empty()) {
    dir = args.work_dir;
    if (!fs::exists(dir / "config.json")) {
      std::printf("generating the random 2B checkpoint into %s ...\n", dir.c_str());
      model::MakeTestModelOptions options;
      options.side_files_dir = args.side_files;
      const auto start = Clock::now();
      const Status s = model::make_test_model(*model::test_model_preset("2b"), dir, options);
      if (!s.ok()) return std::fprintf(stderr, "%s\n", s.to_string().c_str()), 1;
      std::printf("generated in %.1f s\n", seconds_since(start));
    }
  }
  auto backend = tensor::make_backend({"cpu", args.threads});
  if (!backend.ok()) return std::fprintf(stderr, "%s\n", backend.status().to_string().c_str()), 1;
  auto start = Clock::now();
  auto loaded = model::Qwen2VL::load(dir, **backend, args.precision);
  if (!loaded.ok()) return std::fprintf(stderr, "%s\n", loaded.status().to_string().c_str()), 1;
  const model::Qwen2VL& m = *loaded;
  std::printf("model %s, %s, loaded in %.1f s, weights %.2f GiB, backend %s, %d threads\n",
              dir.c_str(), tensor::precision_name(args.precision), seconds_since(start),
              m.weight_bytes() / 1073741824.0, (*backend)->name().c_str(), omp_get_max_threads());

  // The synthetic clip and its prompt (spec §13.1 layout: 15 text tokens before the video).
  const model::VisionGrid grid{std::max<int64_t>(1, std::llround(args.clip_seconds * 2)), 28, 52};
  const model::VisionDims& v = m.dims().vision;
  std::vector<float> pixels(static_cast<size_t>(grid.num_patches() * v.patch_features()));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : pixels) x = normal(rng);
  std::vector<model::TokenId> ids(14, 872);
  ids.push_back(m.dims().tokens.vision_start);
  ids.insert(ids.end(), static_cast<size_t>(grid.num_tokens(v.merge_size)),
             m.dims().tokens.video_pad);
  ids.push_back(151653);
  ids.insert(ids.end(), 10, 872);
  std::printf("clip %.1f s: grid (%lld, %lld, %lld), %lld patches, %lld prompt tokens\n",
              args.clip_seconds, static_cast<long long>(grid.t), static_cast<long long>(grid.h),
              static_cast<long long>(grid.w), static_cast<long long>(grid.num_patches()),
              static_cast<long long>(ids.size()));

  model::GenerationRequest request;
  request.input_ids = ids;
  request.video_grids = {grid};
  request.pixel_values = std::move(pixels);
  request.sampling.eos_ids.clear();  // always generate new_tokens tokens
  request.sampling.max_new_tokens = args.new_tokens;
  model::Generator generator(m, {1});
  if (Status s = generator.add(std::move(request)); !s.ok()) return 1;
  while (!generator.idle()) {
    auto step = generator.step();
    if (!step.ok()) return std::fprintf(stderr, "%s\n", step.status().to_string().c_str()), 1;
    for (const auto& r : *step) {
      if (!r.status.ok()) return std::fprintf(stderr, "%s\n", r.status.to_string().c_str()), 1;
    }
  }
  const model::StageTimes& t = generator.times();
  const model::TextDims& text = m.dims().text;
  const auto prompt = static_cast<int64_t>(ids.size());
  const double vf = vision_flops(v, grid.num_patches(), grid.h * grid.w);
  const double pf = text_flops(text, prompt, 0);
  const double df = text_flops(text, 1, prompt + t.decode_steps / 2) * t.decode_steps;
  std::printf("\n| stage | seconds | work | GFLOP/s |\n|---|---|---|---|\n");
  std::printf("| vision | %.2f | %lld patches | %.1f |\n", t.vision_s,
              static_cast<long long>(t.vision_patches), vf / t.vision_s / 1e9);
  std::printf("| prefill | %.2f | %lld tokens | %.1f |\n", t.prefill_s,
              static_cast<long long>(t.prompt_tokens), pf / t.prefill_s / 1e9);
  std::printf("| decode | %.2f | %lld steps (%.3f s/token) | %.1f |\n", t.decode_s,
              static_cast<long long>(t.decode_steps),
              t.decode_s / std::max<int64_t>(1, t.decode_steps), df / t.decode_s / 1e9);
  std::printf("\nbare oneDNN (%s) on the main shapes, best of 3:\n",
              tensor::precision_name(args.precision));
  const int64_t seg = std::min<int64_t>(grid.h * grid.w, 1456);
  const int64_t rows = std::min<int64_t>(prompt, m.chunks().prefill_rows);
  const struct {
    const char* name;
    int64_t m, k, n;
  } shapes[] = {
      {"vision qkv", seg, v.embed_dim, 3 * v.embed_dim},
      {"vision fc1", seg, v.embed_dim, v.mlp_hidden},
      {"llm gate_up (prefill chunk)", rows, text.hidden_size, 2 * text.intermediate_size},
      {"llm down (prefill chunk)", rows, text.intermediate_size, text.hidden_size},
  };
  for (const auto& s : shapes) {
    std::printf("  %-30s [%lld x %lld] x [%lld x %lld]: %.1f GFLOP/s\n", s.name,
                static_cast<long long>(s.m), static_cast<long long>(s.k),
                static_cast<long long>(s.k), static_cast<long long>(s.n),
                onednn_gflops(s.m, s.k, s.n, args.precision, 3));
  }
  std::printf(
      "\npeak RSS %.2f GiB; estimate_memory_bytes %.2f GiB\n", peak_rss_gib(),
      m.estimate_memory_bytes({grid.num_patches(), prompt, args.new_tokens, 1}) / 1073741824.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: model_bench [--model DIR] [--work-dir DIR] [--clip-seconds S] "
                 "[--precision bf16|f32] [--threads N] [--new-tokens N]\n");
    return 2;
  }
  return run(args);
}
