// gpu_ops_bench: the CUDA backend's matmul against a bare cuBLASLt call on the random 2B model's
// shapes (Qwen2-VL-2B: vision chunk of 8192 patches, the default clip's 7306-token prompt in one
// prefill chunk as a GPU runs it (model::ChunkOptions::for_gpu), decode), and
// its attention at the vision size (segments of 1456 patches, 16 heads of 80) and the LLM size
// (a 7306-token causal prompt, 12 query / 2 kv heads of 128; decode over that cache), each in
// f32 on CUDA cores and with bf16 products on tensor cores (the bf16 model path), and its
// memory-bound ops at the same sizes: GB/s against a device-to-device cudaMemcpy of the same run,
// with f32 and with bf16 outputs (the bf16 matmul inputs of tensor/backend.h), and the decode
// step's KV-cache appends of a batch of 8 as one copy_batch against 16 copy calls, and its
// token choice (process_scores) against downloading its logits; and a decode step's attention
// under other plans than the backend's (how its key range is split across thread blocks).
//
// Usage: gpu_ops_bench [--device N] [--repeats N]
// Timing: the device is synchronised around a loop of `repeats` calls (so launch costs count);
// the median of 5 loops after a warm-up. Inputs are random, never zeros (METHOD.md).
// "ours" includes everything Backend::matmul does: the f32 -> bf16 rounding of the activations
// (a kernel) and the cuBLASLt call, or for decode rows (<= 16) the gemv kernel that rounds as it
// reads; "cuBLASLt" multiplies inputs already in bf16. The weights' GB/s of decode rows against
// the memcpy rate of the memory-bound table below is how close a product comes to streaming them.
// Not a test: numbers depend on the machine (name it when recording bench/results).
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tensor/cuda/attention.h"
#include "tensor/cuda/attention_plan.h"
#include "tensor/cuda/cuda_backend.h"

namespace {

using namespace vcap;  // NOLINT: a benchmark program
using Clock = std::chrono::steady_clock;

struct Args {
  int device = 0;
  int repeats = 20;
};

bool parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--device") {
      args.device = std::atoi(argv[i + 1]);
    } else if (key == "--repeats") {
      args.repeats = std::max(1, std::atoi(argv[i + 1]));
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

void die(const std::string& what) {
  std::fprintf(stderr, "gpu_ops_bench: %s\n", what.c_str());
  std::exit(1);
}

void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) die(std::string(what) + ": " + cudaGetErrorString(error));
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    die(std::string(what) + ": " + cublasLtGetStatusString(status));
}

// Seconds per call: median over 5 loops of `repeats` calls, after one warm-up loop.
double seconds_per_call(const std::function<void()>& call, const std::function<void()>& sync,
                        int repeats) {
  std::vector<double> loops;
  for (int loop = 0; loop < 6; ++loop) {
    sync();
    const auto start = Clock::now();
    for (int r = 0; r < repeats; ++r) call();
    sync();
    if (loop > 0) loops.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(loops.begin(), loops.end());
  return loops[loops.size() / 2] / repeats;
}

std::vector<float> random_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

tensor::Tensor random_tensor(tensor::Backend& backend, int64_t rows, int64_t cols, uint32_t seed) {
  auto t = backend.allocate(tensor::DType::kF32, rows, cols);
  if (!t.ok()) die(t.status().to_string());
  backend.upload(t->view(), std::span<const float>(random_values(rows * cols, seed)));
  return std::move(*t);
}

// A bare cuBLASLt D[N, M] = W^T [N, K] x in [K, M], bf16 inputs, f32 output, compute 32F: the
// call Backend::matmul makes, without its conversion, plan cache or alignment bookkeeping.
class RawLt {
 public:
  RawLt() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cublasLtCreate(&handle_), "cublasLtCreate");
    check(cudaMalloc(&workspace_, kWorkspace), "cudaMalloc workspace");
  }
  ~RawLt() {
    cudaFree(workspace_);
    cublasLtDestroy(handle_);
    cudaStreamDestroy(stream_);
  }

  // Seconds per product of the given shape.
  double time(int64_t m, int64_t k, int64_t n, int repeats) {
    const size_t a_bytes = static_cast<size_t>(n * k) * 2, b_bytes = static_cast<size_t>(m * k) * 2;
    void *a = nullptr, *b = nullptr, *d = nullptr;
    check(cudaMalloc(&a, a_bytes), "cudaMalloc");
    check(cudaMalloc(&b, b_bytes), "cudaMalloc");
    check(cudaMalloc(&d, static_cast<size_t>(m * n) * 4), "cudaMalloc");
    fill_bf16(a, n * k, 1);
    fill_bf16(b, m * k, 2);
    cublasLtMatmulDesc_t desc = nullptr;
    check(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
    const cublasOperation_t t = CUBLAS_OP_T;
    check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), "attr");
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
    check(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, n, k), "layout");
    check(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, m, k), "layout");
    check(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, n, m, n), "layout");
    cublasLtMatmulPreference_t pref = nullptr;
    check(cublasLtMatmulPreferenceCreate(&pref), "pref");
    const uint64_t workspace = kWorkspace;
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                               &workspace, sizeof(workspace)),
          "pref attr");
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    check(cublasLtMatmulAlgoGetHeuristic(handle_, desc, la, lb, ld, ld, pref, 1, &result, &found),
          "heuristic");
    if (found == 0) die("cuBLASLt found no algorithm");
    const float alpha = 1.0f, beta = 0.0f;
    const double seconds = seconds_per_call(
        [&] {
          check(cublasLtMatmul(handle_, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld,
                               &result.algo, workspace_, kWorkspace, stream_),
                "cublasLtMatmul");
        },
        [&] { check(cudaStreamSynchronize(stream_), "sync"); }, repeats);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(ld);
    cublasLtMatmulDescDestroy(desc);
    cudaFree(a);
    cudaFree(b);
    cudaFree(d);
    return seconds;
  }

 private:
  static constexpr size_t kWorkspace = size_t{32} << 20;

  void fill_bf16(void* device, int64_t count, uint32_t seed) {
    const std::vector<float> values = random_values(static_cast<size_t>(count), seed);
    std::vector<uint16_t> bits(values.size());
    for (size_t i = 0; i < values.size(); ++i) bits[i] = tensor::f32_to_bf16(values[i]);
    check(cudaMemcpy(device, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  }

  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
};

struct GemmShape {
  const char* name;
  int64_t m, k, n;
};

void bench_matmul(tensor::Backend& backend, int repeats) {
  const GemmShape shapes[] = {
      {"vision qkv", 8192, 1280, 3840},
      {"vision proj", 8192, 1280, 1280},
      {"vision fc1", 8192, 1280, 5120},
      {"vision fc2", 8192, 5120, 1280},
      {"merger mlp.0", 2048, 5120, 5120},
      {"merger mlp.2", 2048, 5120, 1536},
      {"llm qkv (prefill)", 7306, 1536, 2048},
      {"llm o_proj (prefill)", 7306, 1536, 1536},
      {"llm gate_up (prefill)", 7306, 1536, 17920},
      {"llm down (prefill)", 7306, 8960, 1536},
      {"llm gate_up (decode 1)", 1, 1536, 17920},
      {"llm down (decode 1)", 1, 8960, 1536},
      {"lm_head (decode 1)", 1, 1536, 151936},
      {"llm qkv (decode 8)", 8, 1536, 2048},
      {"llm o_proj (decode 8)", 8, 1536, 1536},
      {"llm gate_up (decode 8)", 8, 1536, 17920},
      {"llm down (decode 8)", 8, 8960, 1536},
      {"lm_head (decode 8)", 8, 1536, 151936},
      {"llm qkv (decode 16)", 16, 1536, 2048},
      {"llm down (decode 16)", 16, 8960, 1536},
      {"lm_head (decode 16)", 16, 1536, 151936},
  };
  RawLt raw;
  std::printf("\n## matmul, bf16 weights (f32 activations in and out)\n\n");
  std::printf(
      "| shape | M x K x N | ours TFLOP/s | cuBLASLt TFLOP/s | ours / cuBLASLt | ours GB/s "
      "(weights) |\n|---|---|---|---|---|---|\n");
  uint32_t seed = 10;
  for (const GemmShape& s : shapes) {
    const std::vector<float> w = random_values(static_cast<size_t>(s.n * s.k), seed++);
    auto weight = backend.prepare_weight({w.data(), tensor::HostDType::kF32, s.n, s.k},
                                         tensor::Precision::kBF16);
    if (!weight.ok()) die(weight.status().to_string());
    tensor::Tensor in = random_tensor(backend, s.m, s.k, seed++);
    tensor::Tensor out = random_tensor(backend, s.m, s.n, seed++);
    const double ours = seconds_per_call([&] { backend.matmul(out.view(), in.view(), *weight); },
                                         [&] {
                                           if (Status st = backend.synchronize(); !st.ok())
                                             die(st.to_string());
                                         },
                                         repeats);
    const double bare = raw.time(s.m, s.k, s.n, repeats);
    const double flops = 2.0 * s.m * s.k * s.n;
    std::printf("| %s | %lld x %lld x %lld | %.1f | %.1f | %.2f | %.0f |\n", s.name,
                static_cast<long long>(s.m), static_cast<long long>(s.k),
                static_cast<long long>(s.n), flops / ours / 1e12, flops / bare / 1e12, bare / ours,
                static_cast<double>(weight->size_bytes()) / ours / 1e9);
  }
}

struct AttentionCase {
  const char* name;
  tensor::AttentionParams params;
  int64_t segments;  // blocks
  int64_t q_rows;    // per block
  int64_t k_rows;    // per block
  bool causal;
  double flops;
};

void bench_attention(tensor::Backend& backend, int repeats) {
  const auto vision = tensor::AttentionParams{16, 16, 80, 1.0f / std::sqrt(80.0f)};
  const auto llm = tensor::AttentionParams{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  const int64_t s = 7306;
  const AttentionCase cases[] = {
      {"vision: 5 segments of 1456 (one chunk)", vision, 5, 1456, 1456, false,
       4.0 * 1456 * 1456 * 80 * 16 * 5},
      {"llm prefill: 7306 causal, one block", llm, 1, s, s, true,
       4.0 * 128 * 12 * s * (s + 1) / 2.0},
      {"llm prefill: last 1024-token chunk", llm, 1, 1024, s, true,
       4.0 * 128 * 12 * 1024 * (s - 512.0)},
      {"llm decode: 1 sequence, 7306 keys", llm, 1, 1, s, true, 4.0 * 128 * 12 * s},
      {"llm decode: 8 sequences, 7306 keys", llm, 8, 1, s, true, 8 * 4.0 * 128 * 12 * s},
  };
  std::printf(
      "\n## attention: f32 on CUDA cores vs bf16 products on tensor cores\n\n"
      "bf16: the bf16 model's path (AttentionParams::bf16_products) with bf16 K/V as the model "
      "gives them (the LLM's KV cache, the vision tower's bf16 copy of k|v).\n\n"
      "| case | f32 ms | f32 TFLOP/s | bf16 ms | bf16 TFLOP/s | bf16 / f32 speed | bf16 K/V GB/s "
      "|\n|---|---|---|---|---|---|---|\n");
  for (const AttentionCase& c : cases) {
    const int64_t width = static_cast<int64_t>(c.params.num_heads) * c.params.head_dim;
    const int64_t kv_width = static_cast<int64_t>(c.params.num_kv_heads) * c.params.head_dim;
    tensor::Tensor q = random_tensor(backend, c.segments * c.q_rows, width, 1);
    tensor::Tensor out = random_tensor(backend, c.segments * c.q_rows, width, 2);
    // Per block K and V side by side: f32, and a bf16 copy (the KV cache of the bf16 model).
    std::vector<tensor::Tensor> kv_f32;
    std::vector<tensor::Tensor> kv_bf16;
    for (int64_t b = 0; b < c.segments; ++b) {
      kv_f32.push_back(
          random_tensor(backend, c.k_rows, 2 * kv_width, 3 + static_cast<uint32_t>(b)));
      auto cache = backend.allocate(tensor::DType::kBF16, c.k_rows, 2 * kv_width);
      if (!cache.ok()) die(cache.status().to_string());
      backend.copy(cache->view(), kv_f32.back().view());
      kv_bf16.push_back(std::move(*cache));
    }
    double seconds[2] = {0.0, 0.0};
    double kv_bytes = 0.0;
    for (int bf16 = 0; bf16 < 2; ++bf16) {
      tensor::AttentionParams params = c.params;
      params.bf16_products = bf16 == 1;
      const bool bf16_cache = bf16 == 1;
      std::vector<tensor::AttentionBlock> blocks;
      for (int64_t b = 0; b < c.segments; ++b) {
        const tensor::TensorView all = (bf16_cache ? kv_bf16 : kv_f32)[b].view();
        blocks.push_back({b * c.q_rows, c.q_rows, all.cols_slice(0, kv_width),
                          all.cols_slice(kv_width, kv_width), c.causal,
                          c.causal ? c.k_rows - c.q_rows : 0});
      }
      seconds[bf16] =
          seconds_per_call([&] { backend.attention(out.view(), q.view(), blocks, params); },
                           [&] {
                             if (Status st = backend.synchronize(); !st.ok()) die(st.to_string());
                           },
                           std::max(1, repeats / 4));
      kv_bytes = 2.0 * c.segments * c.k_rows * kv_width * (bf16_cache ? 2 : 4);
    }
    std::printf("| %s | %.3f | %.2f | %.3f | %.2f | %.2f | %.0f |\n", c.name, seconds[0] * 1e3,
                c.flops / seconds[0] / 1e12, seconds[1] * 1e3, c.flops / seconds[1] / 1e12,
                seconds[0] / seconds[1], kv_bytes / seconds[1] / 1e9);
  }
}

// A decode step's attention (one query row per sequence over a bf16 cache) under other cuts of
// the key range than the backend's (2 thread blocks per multiprocessor, parts of at least 256
// keys), the merge of each range's parts included (the block that finishes its last part).
void bench_decode_plans(tensor::Backend& backend, int device, int repeats) {
  int sms = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "SM count");
  auto params = tensor::AttentionParams{12, 2, 128, 1.0f / std::sqrt(128.0f)};
  params.bf16_products = true;
  const int64_t width = int64_t{params.num_heads} * params.head_dim;
  const int64_t kv_width = int64_t{params.num_kv_heads} * params.head_dim;
  const auto sync = [] { check(cudaDeviceSynchronize(), "sync"); };
  std::printf(
      "\n## decode attention by plan: thread blocks wanted x minimum keys per part\n\n"
      "| sequences | keys | blocks wanted | min keys per part | items | partial states | us "
      "|\n|---|---|---|---|---|---|---|\n");
  for (const int64_t seqs : {int64_t{1}, int64_t{8}}) {
    for (const int64_t keys : {int64_t{1024}, int64_t{7306}}) {
      tensor::Tensor q = random_tensor(backend, seqs, width, 1);
      tensor::Tensor out = random_tensor(backend, seqs, width, 2);
      std::vector<tensor::Tensor> caches;
      std::vector<tensor::AttentionBlock> blocks;
      for (int64_t b = 0; b < seqs; ++b) {
        tensor::Tensor f32 =
            random_tensor(backend, keys, 2 * kv_width, 3 + static_cast<uint32_t>(b));
        auto cache = backend.allocate(tensor::DType::kBF16, keys, 2 * kv_width);
        if (!cache.ok()) die(cache.status().to_string());
        backend.copy(cache->view(), f32.view());
        const tensor::TensorView all = cache->view();
        blocks.push_back({b, 1, all.cols_slice(0, kv_width), all.cols_slice(kv_width, kv_width),
                          true, keys - 1});
        caches.push_back(std::move(*cache));
      }
      if (Status st = backend.synchronize(); !st.ok()) die(st.to_string());
      for (const int per_sm : {1, 2, 4, 8}) {
        for (const int min_keys : {64, 128, 256}) {
          const tensor::cuda::AttentionPlan plan =
              tensor::cuda::make_attention_plan(blocks, params, per_sm * sms, min_keys);
          void* tables = nullptr;
          float* partials = nullptr;
          int32_t* arrivals = nullptr;
          check(cudaMalloc(&tables, plan.tables.size()), "cudaMalloc");
          check(cudaMemcpy(tables, plan.tables.data(), plan.tables.size(), cudaMemcpyHostToDevice),
                "cudaMemcpy");
          const size_t partial_bytes = std::max<size_t>(
              1, plan.partial_count * tensor::cuda::attention_partial_floats(128) * sizeof(float));
          check(cudaMalloc(reinterpret_cast<void**>(&partials), partial_bytes), "cudaMalloc");
          const size_t arrival_bytes = std::max<size_t>(1, plan.combine_count * sizeof(int32_t));
          check(cudaMalloc(reinterpret_cast<void**>(&arrivals), arrival_bytes), "cudaMalloc");
          check(cudaMemset(arrivals, 0, arrival_bytes), "cudaMemset");
          const tensor::cuda::AttentionLaunch launch =
              tensor::cuda::make_attention_launch(plan, static_cast<const std::byte*>(tables),
                                                  out.view(), q.view(), partials, arrivals, params);
          const double whole = seconds_per_call(
              [&] { check(tensor::cuda::launch_attention(nullptr, launch), "attention"); }, sync,
              repeats);
          std::printf("| %lld | %lld | %d x %d SMs | %d | %d | %d | %.1f |\n",
                      static_cast<long long>(seqs), static_cast<long long>(keys), per_sm, sms,
                      min_keys, plan.item_count, plan.partial_count, whole * 1e6);
          cudaFree(tables);
          cudaFree(partials);
          cudaFree(arrivals);
        }
      }
    }
  }
}

// The bytes one call moves: every element read or written once.
struct MemoryBoundCase {
  const char* name;
  std::string shape;
  double bytes;
  std::function<void()> call;
};

void bench_memory_bound(tensor::Backend& backend, int repeats) {
  const auto sync = [&] {
    if (Status st = backend.synchronize(); !st.ok()) die(st.to_string());
  };
  // The reference rate: a device-to-device copy of 8192 x 5120 floats (read + write).
  const size_t copy_bytes = size_t{8192} * 5120 * 4;
  void *from = nullptr, *to = nullptr;
  check(cudaMalloc(&from, copy_bytes), "cudaMalloc");
  check(cudaMalloc(&to, copy_bytes), "cudaMalloc");
  check(cudaMemset(from, 1, copy_bytes), "cudaMemset");
  const double memcpy_rate =
      2.0 * copy_bytes /
      seconds_per_call(
          [&] { check(cudaMemcpy(to, from, copy_bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy"); },
          [] { check(cudaDeviceSynchronize(), "sync"); }, repeats);
  cudaFree(from);
  cudaFree(to);

  const int64_t rows = 8192, embed = 1280, mlp = 5120;  // one vision chunk
  const int64_t prompt = 7306, inter = 8960;            // the default clip's prefill
  const auto bf16_tensor = [&](int64_t r, int64_t c) {
    auto t = backend.allocate(tensor::DType::kBF16, r, c);
    if (!t.ok()) die(t.status().to_string());
    return std::move(*t);
  };
  tensor::Tensor hidden = random_tensor(backend, rows, embed, 40);
  tensor::Tensor normed = random_tensor(backend, rows, embed, 41);
  tensor::Tensor normed_bf16 = bf16_tensor(rows, embed);
  tensor::Tensor weight = random_tensor(backend, 1, embed, 42);
  tensor::Tensor bias = random_tensor(backend, 1, embed, 43);
  tensor::Tensor fc1 = random_tensor(backend, rows, mlp, 44);
  tensor::Tensor act_bf16 = bf16_tensor(rows, mlp);
  tensor::Tensor qkv = random_tensor(backend, rows, 3 * embed, 45);
  tensor::Tensor cos = random_tensor(backend, rows, 40, 46);
  tensor::Tensor sin = random_tensor(backend, rows, 40, 47);
  tensor::Tensor gate_up = random_tensor(backend, prompt, 2 * inter, 48);
  tensor::Tensor swiglu = random_tensor(backend, prompt, inter, 49);
  tensor::Tensor swiglu_bf16 = bf16_tensor(prompt, inter);
  const double f32 = 4.0, bf16 = 2.0;
  const double vision = static_cast<double>(rows * embed), wide = static_cast<double>(rows * mlp);
  const double prefill = static_cast<double>(prompt * inter);
  const std::string chunk = "8192 x 1280";
  const std::vector<MemoryBoundCase> cases = {
      {"layer_norm, f32 out", chunk, vision * (f32 + f32),
       [&] {
         backend.layer_norm(normed.view(), hidden.view(), weight.view(), bias.view(), 1e-6f);
       }},
      {"layer_norm, bf16 out", chunk, vision * (f32 + bf16),
       [&] {
         backend.layer_norm(normed_bf16.view(), hidden.view(), weight.view(), bias.view(), 1e-6f);
       }},
      {"f32 -> bf16 rounding (what a bf16 out saves)", chunk, vision * (f32 + bf16),
       [&] { backend.copy(normed_bf16.view(), normed.view()); }},
      // The bf16 out first: the in-place runs drive fc1 towards zero and into subnormals (a
      // slow path of the division), which made the bf16 out after them look 2.5x slower.
      {"quick_gelu, bf16 out", "8192 x 5120", wide * (f32 + bf16),
       [&] { backend.activation(act_bf16.view(), fc1.view(), tensor::Activation::kQuickGelu); }},
      {"quick_gelu in place, f32", "8192 x 5120", wide * (f32 + f32),
       [&] { backend.activation(fc1.view(), fc1.view(), tensor::Activation::kQuickGelu); }},
      {"rotary on q|k in place", "8192 x 2560 (32 heads of 80)", vision * 2 * (f32 + f32),
       [&] {
         backend.rotary(qkv.view().cols_slice(0, 2 * embed), cos.view(), sin.view(), 32, 80);
       }},
      {"silu_mul, f32 out", "7306 x 8960", prefill * (2 * f32 + f32),
       [&] {
         backend.silu_mul(swiglu.view(), gate_up.view().cols_slice(0, inter),
                          gate_up.view().cols_slice(inter, inter));
       }},
      {"silu_mul, bf16 out", "7306 x 8960", prefill * (2 * f32 + bf16),
       [&] {
         backend.silu_mul(swiglu_bf16.view(), gate_up.view().cols_slice(0, inter),
                          gate_up.view().cols_slice(inter, inter));
       }},
  };
  std::printf(
      "\n## memory-bound ops\n\nReference: device-to-device cudaMemcpy of 168 MB, %.0f GB/s "
      "(read + write), same run.\n\n| op | shape | ms | GB/s | / memcpy |\n|---|---|---|---|---|\n",
      memcpy_rate / 1e9);
  for (const MemoryBoundCase& c : cases) {
    const double seconds = seconds_per_call(c.call, sync, repeats);
    std::printf("| %s | %s | %.3f | %.0f | %.2f |\n", c.name, c.shape.c_str(), seconds * 1e3,
                c.bytes / seconds / 1e9, c.bytes / seconds / memcpy_rate);
  }

  // A decode step's KV-cache appends for 8 sequences: k and v rows (2 kv heads of 128) into
  // bf16 caches, one copy_batch or 16 copy calls (what each layer did before copy_batch).
  tensor::Tensor step_qkv = random_tensor(backend, 8, 2048, 50);
  std::vector<tensor::Tensor> caches;
  std::vector<tensor::CopyPair> pairs;
  for (int64_t s = 0; s < 8; ++s) {
    caches.push_back(bf16_tensor(2 * 1024, 256));
    const tensor::TensorView cache = caches.back().view();
    pairs.push_back(
        {cache.rows_slice(700, 1), step_qkv.view().rows_slice(s, 1).cols_slice(1536, 256)});
    pairs.push_back(
        {cache.rows_slice(1024 + 700, 1), step_qkv.view().rows_slice(s, 1).cols_slice(1792, 256)});
  }
  const double batched = seconds_per_call([&] { backend.copy_batch(pairs); }, sync, repeats);
  const double separate = seconds_per_call(
      [&] {
        for (const tensor::CopyPair& pair : pairs) backend.copy(pair.dst, pair.src);
      },
      sync, repeats);
  std::printf(
      "\nKV-cache appends of a decode step, batch 8 (16 rows of 256 into bf16 caches): "
      "copy_batch %.1f us, 16 copy calls %.1f us (%.1fx).\n",
      batched * 1e6, separate * 1e6, separate / batched);

  // Choosing a decode step's tokens, batch 8 over Qwen2-VL's vocabulary: process_scores (the
  // penalty over 700 ids a row and the temperature, applied in place, and each row's largest
  // score sent back) against downloading the logits for the host to choose from, as the
  // generator did before. Both calls return with their results on the host.
  const int64_t batch = 8, vocab = 151936;
  tensor::Tensor logits = random_tensor(backend, batch, vocab, 51);
  std::vector<int32_t> penalized;
  for (int32_t id = 0; id < 700; ++id) penalized.push_back(id * 211);
  const std::vector<tensor::ScoreRowRule> rules(static_cast<size_t>(batch),
                                                tensor::ScoreRowRule{penalized, 1.05f, 0.1f});
  std::vector<tensor::LargestScore> largest(static_cast<size_t>(batch));
  auto host_logits = backend.allocate_host(static_cast<size_t>(batch * vocab));
  if (!host_logits.ok()) die(host_logits.status().to_string());
  const double on_device = seconds_per_call(
      [&] { backend.process_scores(logits.view(), rules, largest); }, sync, repeats);
  const double downloaded = seconds_per_call(
      [&] { backend.download(logits.view(), host_logits->span()); }, sync, repeats);
  std::printf(
      "\nChoosing a decode step's tokens, batch 8 x %lld scores: process_scores %.1f us, "
      "download of the logits %.1f us (%.1fx), before the host's own choice from them.\n",
      static_cast<long long>(vocab), on_device * 1e6, downloaded * 1e6, downloaded / on_device);
}

}  // namespace

int main(int argc, char** argv) {
  // A line at a time: gpu_check.sh's time limit (SIGTERM) or an abort must not lose the
  // buffered tables of a run that has never been seen on a GPU.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr, "usage: gpu_ops_bench [--device N] [--repeats N]\n");
    return 2;
  }
  std::printf("# gpu_ops_bench on %s\n", tensor::cuda_device_summary().c_str());
  auto backend = tensor::make_cuda_backend(tensor::CudaBackendOptions{args.device});
  if (!backend.ok()) die(backend.status().to_string());
  bench_matmul(**backend, args.repeats);
  bench_attention(**backend, args.repeats);
  bench_decode_plans(**backend, args.device, args.repeats);
  bench_memory_bound(**backend, args.repeats);
  return 0;
}
