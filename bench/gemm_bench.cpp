// GEMM and attention throughput of the CPU backend on Qwen2-VL-2B shapes, next to raw oneDNN
// on the same shapes in the same process, plus the copy-loop memory bandwidth (decode floor).
//
// vcap:   Backend::matmul with f32 activations (bf16: rounded to bf16 inside matmul) and the
//         backend's weight layout.
// onednn: tensor::RawMatmul (tensor/cpu/raw_matmul.h), a bare dnnl::matmul with inputs in the
//         compute dtype and weights in oneDNN's preferred layout: the best case it offers.
// At the end a table lists GFLOP/s of both and the ratio vcap / onednn per shape.
//
// Run (Release build): build/tensor-rel/bench/gemm_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_context.h"
#include "tensor/cpu/memory_bandwidth.h"
#include "tensor/cpu/raw_matmul.h"

namespace {

using namespace vcap::tensor;  // NOLINT: a benchmark program

struct Shape {
  const char* name;
  int64_t m, k, n;  // out [m, n] = in [m, k] * W[n, k]^T
};

// Vision: one 1456-patch segment (a frame pair of the default clip) per call; LLM prefill: the
// 7306-token prompt of the default clip; decode: one token (decodeN: N sequences, --bs N). The
// gate_up and lm_head weights (55 and 467 MB) exceed the L3 cache, so they stream from memory
// on every call as in a real decode step; the smaller ones are partly served from the cache.
const Shape kShapes[] = {
    {"vision_qkv", 1456, 1280, 3840},    {"vision_proj", 1456, 1280, 1280},
    {"vision_fc1", 1456, 1280, 5120},    {"vision_fc2", 1456, 5120, 1280},
    {"prefill_q", 7306, 1536, 1536},     {"prefill_kv", 7306, 1536, 256},
    {"prefill_gate", 7306, 1536, 8960},  {"prefill_down", 7306, 8960, 1536},
    {"decode_gate", 1, 1536, 8960},      {"decode_down", 1, 8960, 1536},
    {"decode_q", 1, 1536, 1536},         {"decode_lm_head", 1, 1536, 151936},
    {"decode_gate_up", 1, 1536, 17920},  {"decode4_gate_up", 4, 1536, 17920},
    {"decode8_gate_up", 8, 1536, 17920}, {"decode4_lm_head", 4, 1536, 151936},
};

std::vector<float> random_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

void set_rates(benchmark::State& state, const Shape& s, double weight_bytes) {
  const double flops = 2.0 * s.m * s.k * s.n;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] =
      benchmark::Counter(weight_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_vcap_matmul(benchmark::State& state, Shape s, Precision precision) {
  std::unique_ptr<Backend> backend = std::move(make_cpu_backend({}).value());
  const auto w = random_values(s.n * s.k, 1);
  const auto in = random_values(s.m * s.k, 2);
  auto weight = backend->prepare_weight(HostMatrix{w.data(), HostDType::kF32, s.n, s.k}, precision);
  auto in_t = backend->allocate(DType::kF32, s.m, s.k);
  auto out_t = backend->allocate(DType::kF32, s.m, s.n);
  if (!weight.ok() || !in_t.ok() || !out_t.ok()) return state.SkipWithError("allocation failed");
  backend->upload(in_t->view(), std::span<const float>(in));
  for (auto _ : state) backend->matmul(out_t->view(), in_t->view(), *weight);
  set_rates(state, s, static_cast<double>(weight->size_bytes()));
}

void bm_onednn_matmul(benchmark::State& state, Shape s, Precision precision) {
  omp_set_num_threads(vcap::tensor::cpu::available_cores());
  vcap::Result<RawMatmul> matmul = RawMatmul::create(s.m, s.k, s.n, precision);
  if (!matmul.ok()) return state.SkipWithError(matmul.status().to_string().c_str());
  for (auto _ : state) matmul->run();
  set_rates(state, s, static_cast<double>(matmul->weight_bytes()));
  state.SetLabel(matmul->implementation());
}

// The last q_rows of a length-token sequence attend to all keys (causal: the ones before them;
// q_rows == 1 and causal is one decode step over a length-token cache). K and V are stored in
// kv_dtype: bf16 for the bf16 model (its KV cache), f32 otherwise. `kernels` picks the CPU's
// kernels (AVX-512 by default; the AVX2 and portable ones of CPUs without it).
void bm_attention(benchmark::State& state, int64_t length, int64_t q_rows, AttentionParams p,
                  bool causal, CpuBackendOptions kernels) {
  const DType kv_dtype = p.bf16_products ? DType::kBF16 : DType::kF32;
  std::unique_ptr<Backend> backend = std::move(make_cpu_backend(kernels).value());
  const int64_t width = int64_t{p.num_heads} * p.head_dim;
  const int64_t kv_width = int64_t{p.num_kv_heads} * p.head_dim;
  auto q = backend->allocate(DType::kF32, q_rows, width);
  auto kv = backend->allocate(kv_dtype, length, 2 * kv_width);
  auto out = backend->allocate(DType::kF32, q_rows, width);
  if (!q.ok() || !kv.ok() || !out.ok()) return state.SkipWithError("allocation failed");
  backend->upload(q->view(), std::span<const float>(random_values(q_rows * width, 3)));
  backend->upload(kv->view(), std::span<const float>(random_values(length * 2 * kv_width, 4)));
  const AttentionBlock block{0,
                             q_rows,
                             kv->view().cols_slice(0, kv_width),
                             kv->view().cols_slice(kv_width, kv_width),
                             causal,
                             length - q_rows};
  for (auto _ : state) backend->attention(out->view(), q->view(), {&block, 1}, p);
  const double past = static_cast<double>(length - q_rows);
  const double pairs =
      causal ? q_rows * past + q_rows * (q_rows + 1) / 2.0 : double(q_rows) * length;
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * pairs * p.head_dim * p.num_heads / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  // What a decode step streams: every cached key and value once.
  state.counters["kv_GB/s"] =
      benchmark::Counter(static_cast<double>(length * 2 * kv_width * dtype_size(kv_dtype)) / 1e9,
                         benchmark::Counter::kIsIterationInvariantRate);
}

void bm_memory_bandwidth(benchmark::State& state) {
  double gbs = 0.0;
  double read_gbs = 0.0;
  for (auto _ : state) {
    gbs = measure_memory_bandwidth_gbs();
    read_gbs = measure_read_bandwidth_gbs();
  }
  state.counters["copy_GB/s"] = gbs;
  state.counters["read_GB/s"] = read_gbs;
}

// Console output plus, at the end, the vcap / oneDNN ratio per shape and precision: from wall
// time, and from the CPU time of the calling thread (which does its equal share of the work and
// is far less disturbed when other processes load the machine).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : benchmark::ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto rate = run.counters.find("GFLOP/s");
      if (rate == run.counters.end() || run.iterations == 0) continue;
      const double cpu_seconds = run.cpu_accumulated_time / static_cast<double>(run.iterations);
      results_[run.run_name.function_name] = {rate->second.value, cpu_seconds};
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-5s %-15s %10s %10s %10s %11s %11s %9s\n", "dtype", "shape", "vcap GF/s",
                "oneDNN GF/s", "wall ratio", "vcap cpu ms", "oneDNN cpu", "cpu ratio");
    for (const char* dtype : {"f32", "bf16"}) {
      for (const Shape& s : kShapes) {
        const std::string suffix = std::string(dtype) + "/" + s.name;
        const auto ours = results_.find("matmul/vcap/" + suffix);
        const auto raw = results_.find("matmul/onednn/" + suffix);
        if (ours == results_.end() || raw == results_.end()) continue;
        const Result& a = ours->second;
        const Result& b = raw->second;
        std::printf("%-5s %-15s %10.1f %11.1f %10.2f %11.2f %11.2f %9.2f\n", dtype, s.name, a.rate,
                    b.rate, a.rate / b.rate, a.cpu_seconds * 1e3, b.cpu_seconds * 1e3,
                    b.cpu_seconds / a.cpu_seconds);
      }
    }
  }

 private:
  struct Result {
    double rate;         // GFLOP/s from wall time
    double cpu_seconds;  // calling thread's CPU seconds per iteration
  };
  std::map<std::string, Result> results_;
};

void register_benchmarks() {
  for (const Precision precision : {Precision::kF32, Precision::kBF16}) {
    for (const Shape& s : kShapes) {
      const std::string suffix = std::string(precision_name(precision)) + "/" + s.name;
      const double seconds = s.m > 8 ? 1.0 : 0.3;
      benchmark::RegisterBenchmark(("matmul/vcap/" + suffix).c_str(), bm_vcap_matmul, s, precision)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(seconds);
      benchmark::RegisterBenchmark(("matmul/onednn/" + suffix).c_str(), bm_onednn_matmul, s,
                                   precision)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(seconds);
    }
  }
  // f32 (the parity path) and bf16 products over bf16 K/V (AttentionParams::bf16_products and
  // the bf16 KV cache: the bf16 path).
  for (const bool bf16 : {false, true}) {
    const std::string suffix = bf16 ? "/bf16" : "";
    AttentionParams vision{16, 16, 80, 1.0f / std::sqrt(80.0f)};
    AttentionParams llm{12, 2, 128, 1.0f / std::sqrt(128.0f)};
    vision.bf16_products = llm.bf16_products = bf16;
    benchmark::RegisterBenchmark(("attention/vision_segment_1456" + suffix).c_str(), bm_attention,
                                 1456, 1456, vision, false, CpuBackendOptions{})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("attention/llm_prefill_7306_causal" + suffix).c_str(),
                                 bm_attention, 7306, 7306, llm, true, CpuBackendOptions{})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(2);
    benchmark::RegisterBenchmark(("attention/llm_decode_7306" + suffix).c_str(), bm_attention, 7306,
                                 1, llm, true, CpuBackendOptions{})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.5);
  }
  // The f32 kernels of CPUs without AVX-512 (f32 is their only precision): AVX2, and the
  // portable loop (no long prefill: it would take minutes).
  const AttentionParams vision{16, 16, 80, 1.0f / std::sqrt(80.0f)};
  const AttentionParams llm{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  for (const bool avx2 : {true, false}) {
    const CpuBackendOptions kernels{.threads = 0, .use_avx512 = false, .use_avx2 = avx2};
    const std::string suffix = avx2 ? "/avx2" : "/portable";
    benchmark::RegisterBenchmark(("attention/vision_segment_1456" + suffix).c_str(), bm_attention,
                                 1456, 1456, vision, false, kernels)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
    if (avx2) {
      benchmark::RegisterBenchmark(("attention/llm_prefill_7306_causal" + suffix).c_str(),
                                   bm_attention, 7306, 7306, llm, true, kernels)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(2);
    }
    benchmark::RegisterBenchmark(("attention/llm_decode_7306" + suffix).c_str(), bm_attention, 7306,
                                 1, llm, true, kernels)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.5);
  }
  benchmark::RegisterBenchmark("memory/copy_bandwidth", bm_memory_bandwidth)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  register_benchmarks();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
