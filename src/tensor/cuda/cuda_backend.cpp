#include "tensor/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tensor/cuda/attention.h"
#include "tensor/cuda/attention_f32.h"
#include "tensor/cuda/attention_kernels.h"
#include "tensor/cuda/attention_plan.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/cuda/elementwise.h"
#include "tensor/cuda/gemm.h"
#include "tensor/cuda/gemv_kernel.h"
#include "tensor/cuda/host_transfer.h"
#include "tensor/cuda/norm.h"
#include "tensor/cuda/op_profile.h"
#include "tensor/cuda/process_scores.h"
#include "tensor/cuda/rotary.h"
#include "tensor/cuda/transfer.h"
#include "tensor/op_checks.h"

namespace vcap::tensor {
namespace {

using cuda::CudaContext;
using cuda::DeviceMemory;

class CudaBuffer : public Buffer {
 public:
  explicit CudaBuffer(DeviceMemory memory) : memory_(std::move(memory)) {}
  std::byte* data() const override { return memory_.data(); }
  size_t size_bytes() const override { return memory_.size_bytes(); }

 private:
  DeviceMemory memory_;
};

bool same_dtype(DType device, HostDType host) {
  return (device == DType::kF32 && host == HostDType::kF32) ||
         (device == DType::kBF16 && host == HostDType::kBF16);
}

class CudaBackend : public Backend {
 public:
  CudaBackend(std::unique_ptr<CudaContext> context, std::unique_ptr<cuda::GemmEngine> gemm,
              bool profile)
      : context_(std::move(context)),
        gemm_(std::move(gemm)),
        profile_(profile ? std::make_unique<cuda::OpProfile>(*context_) : nullptr) {}

  // Queued copies may still read pinned staging buffers and scratch: wait before freeing.
  ~CudaBackend() override {
    context_->make_current();
    cudaStreamSynchronize(context_->stream());
  }

  std::string name() const override { return "cuda:" + std::to_string(context_->device()); }

  Result<Tensor> allocate(DType dtype, int64_t rows, int64_t cols) override {
    context_->make_current();
    const auto bytes = allocation_bytes(name(), dtype, rows, cols);
    if (!bytes.ok()) return bytes.status();
    const std::string what = std::string(dtype_name(dtype)) + " " + shape(rows, cols);
    auto memory =
        context_->allocate(*bytes, "allocate " + what + " (" + std::to_string(*bytes) + " bytes)");
    if (!memory.ok()) return memory.status();
    return Tensor(std::make_unique<CudaBuffer>(std::move(*memory)), dtype, rows, cols);
  }

  using Backend::upload;
  void upload(TensorView dst, const HostMatrix& host) override {
    require_upload(dst, host);
    const cuda::OpScope scope = enter("upload");
    upload_rows(dst, host);
  }

  void download(TensorView src, std::span<float> host) override;

  Result<Weight> prepare_weight(const HostMatrix& host, Precision precision) override;

  void matmul(TensorView out, TensorView in, const Weight& w, std::optional<TensorView> bias,
              MatmulAccumulate accumulate) override {
    require_matmul(out, in, w, bias);
    const cuda::OpScope scope =
        enter(in.rows <= cuda::kGemvMaxRows ? "matmul (<= 16 rows)" : "matmul");
    gemm_->matmul(*context_, out, in, w, bias, accumulate);
  }

  void gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) override;

  void layer_norm(TensorView out, TensorView in, TensorView weight, TensorView bias,
                  float eps) override {
    require_layer_norm(out, in, weight, bias);
    const cuda::OpScope scope = enter("layer_norm");
    context_->check(cuda::launch_layer_norm(stream(), out, in, weight, bias, eps),
                    "layer_norm kernel");
  }

  void rms_norm(TensorView out, TensorView in, TensorView weight, float eps) override {
    require_rms_norm(out, in, weight);
    const cuda::OpScope scope = enter("rms_norm");
    context_->check(cuda::launch_rms_norm(stream(), out, in, weight, eps), "rms_norm kernel");
  }

  void rotary(TensorView x, TensorView cos, TensorView sin, int num_heads, int head_dim) override {
    require_rotary(x, cos, sin, num_heads, head_dim);
    const cuda::OpScope scope = enter("rotary");
    context_->check(cuda::launch_rotary(stream(), x, cos, sin, num_heads, head_dim),
                    "rotary kernel");
  }

  void attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                 const AttentionParams& params) override;
  Status check_attention(const AttentionParams& params) const override;

  void activation(TensorView out, TensorView in, Activation kind) override {
    require_activation(out, in);
    const cuda::OpScope scope = enter("activation");
    context_->check(cuda::launch_activation(stream(), out, in, kind), "activation kernel");
  }

  void silu_mul(TensorView out, TensorView gate, TensorView up) override {
    require_silu_mul(out, gate, up);
    const cuda::OpScope scope = enter("silu_mul");
    context_->check(cuda::launch_silu_mul(stream(), out, gate, up), "silu_mul kernel");
  }

  void add(TensorView inout, TensorView other) override {
    require_add(inout, other);
    const cuda::OpScope scope = enter("add");
    context_->check(cuda::launch_add(stream(), inout, other), "add kernel");
  }

  void copy(TensorView dst, TensorView src) override {
    require_copy(dst, src);
    const cuda::OpScope scope = enter("copy");
    context_->check(cuda::launch_copy(stream(), dst, src), "copy kernel");
  }

  void copy_batch(std::span<const CopyPair> pairs) override {
    require_copy_batch(pairs);
    const cuda::OpScope scope = enter("copy_batch");
    context_->check(cuda::launch_copy_batch(stream(), pairs), "copy_batch kernel");
  }

  void copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) override;

  void process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                      std::span<LargestScore> largest) override;

  Status synchronize() override {
    context_->make_current();
    context_->check(cudaStreamSynchronize(stream()), "running the queued ops");
    if (profile_) profile_->resolve();
    return context_->take_error();
  }

  // The op profile's report after a synchronize(); empty without CudaBackendOptions::profile.
  // `restart`: then begin a new profile.
  std::string profile_report(bool restart) {
    if (!profile_) return "";
    const Status status = synchronize();
    std::string text =
        status.ok() ? profile_->report() : "profile unavailable: " + status.to_string() + "\n";
    if (restart) profile_->restart();
    return text;
  }

  Result<HostBuffer> allocate_host(size_t count) override {
    context_->make_current();
    void* data = nullptr;
    const cudaError_t error = cudaMallocHost(&data, count * sizeof(float));
    if (error != cudaSuccess) {
      cudaGetLastError();  // not left for the next op to report
      return Status::out_of_memory(name() + ": cannot allocate " + std::to_string(count) +
                                   " page-locked host floats: " + cudaGetErrorString(error));
    }
    return HostBuffer(static_cast<float*>(data), count, [](float* p) { cudaFreeHost(p); });
  }

  // A failure is recorded for the next synchronize() and reads as 0.
  std::optional<uint64_t> device_memory_free() override {
    size_t free = 0;
    size_t total = 0;
    context_->make_current();
    if (!context_->check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo")) {
      return 0;
    }
    return free;
  }

 private:
  cudaStream_t stream() const { return context_->stream(); }

  // Every op starts here: the device is made current for the calling thread (a process may
  // hold backends on several devices, and any one thread at a time may use a backend), and the
  // op is profiled when the backend profiles.
  cuda::OpScope enter(const char* kind) {
    context_->make_current();
    return cuda::OpScope(profile_.get(), kind);
  }

  // dst = host converted to dst.dtype, in chunks through pinned memory (see HostToDevice).
  void upload_rows(TensorView dst, const HostMatrix& host);

  // `bytes` of host data copied into the op-table scratch; null on an error (recorded).
  const std::byte* upload_table(const void* data, size_t bytes);

  // Declared first: destroyed last, after everything that frees memory on its stream.
  std::unique_ptr<CudaContext> context_;
  std::unique_ptr<cuda::GemmEngine> gemm_;
  // Bulk uploads, 8 MiB chunks: deep enough for two vision chunks' pixels (8192 rows of 1176 f32,
  // 38.5 MB, ChunkOptions::vision_rows) and their rotary tables. Shallower, the host waited in
  // every chunk's upload for the previous chunk's compute (the copies queue behind it) and the
  // GPU then idled while the host copied and issued (H200: 7.1 ms of host time per upload).
  cuda::HostToDevice host_to_device_{12};
  // Op tables, deep enough for a whole decode step's (one attention table per layer, the token
  // ids) to be queued without waiting for the GPU: small ones read by the kernels from mapped
  // pinned memory, larger ones (a vision chunk's attention) copied to `tables_`.
  cuda::MappedTables mapped_tables_{64};
  cuda::HostToDevice table_uploads_{64};
  cuda::DeviceScratch upload_staging_;        // host bytes awaiting conversion
  cuda::DeviceScratch download_staging_;      // bf16 tensors widened to f32 for download
  cuda::DeviceScratch tables_;                // attention tables, row indices, token ids
  cuda::DeviceScratch attention_partials_;    // softmax states of split key ranges
  cuda::DeviceScratch attention_arrivals_;    // their parts finished, per range (zero at rest)
  cuda::DeviceScratch score_maxima_;          // process_scores: parts', then rows' maxima
  cuda::DeviceScratch score_arrivals_;        // its rows' parts finished (zero at rest)
  cuda::PinnedMemory score_results_;          // the rows' maxima, copied back
  std::unique_ptr<cuda::OpProfile> profile_;  // null unless CudaBackendOptions::profile
};

void CudaBackend::upload_rows(TensorView dst, const HostMatrix& host) {
  if (dst.num_elements() == 0) return;
  const auto* source = static_cast<const std::byte*>(host.data);
  const size_t host_row = static_cast<size_t>(host.cols) * host_dtype_size(host.dtype);
  if (same_dtype(dst.dtype, host.dtype)) {
    const size_t dst_pitch = static_cast<size_t>(dst.row_stride) * dtype_size(dst.dtype);
    host_to_device_.copy_2d(*context_, dst.data, dst_pitch, source, host_row, host_row,
                            static_cast<size_t>(dst.rows));
    return;
  }
  const int64_t chunk_rows =
      std::max<int64_t>(1, static_cast<int64_t>(cuda::HostToDevice::kChunkBytes / host_row));
  auto staging = upload_staging_.ensure(
      *context_, static_cast<size_t>(std::min(chunk_rows, dst.rows)) * host_row, "upload staging");
  if (!staging.ok()) return context_->record(staging.status());
  for (int64_t first = 0; first < dst.rows; first += chunk_rows) {
    const int64_t count = std::min(chunk_rows, dst.rows - first);
    if (!host_to_device_.copy(*context_, *staging, source + first * host_row,
                              static_cast<size_t>(count) * host_row)) {
      return;
    }
    if (!context_->check(cuda::launch_convert_host_rows(stream(), dst.rows_slice(first, count),
                                                        *staging, host.dtype),
                         "upload conversion kernel")) {
      return;
    }
  }
}

void CudaBackend::download(TensorView src, std::span<float> host) {
  require_download(src, host);
  if (host.empty()) return;
  const cuda::OpScope scope = enter("download");
  TensorView f32 = src;
  bool ok = true;
  if (src.dtype != DType::kF32) {
    auto staging =
        download_staging_.ensure(*context_, host.size() * sizeof(float), "download staging");
    if (staging.ok()) {
      f32 = TensorView{*staging, DType::kF32, src.rows, src.cols, src.cols};
      ok = context_->check(cuda::launch_copy(stream(), f32, src), "download conversion kernel");
    } else {
      context_->record(staging.status());
      ok = false;
    }
  }
  const size_t row_bytes = static_cast<size_t>(src.cols) * sizeof(float);
  ok = ok &&
       context_->check(
           cudaMemcpy2DAsync(host.data(), row_bytes, f32.data,
                             static_cast<size_t>(f32.row_stride) * sizeof(float), row_bytes,
                             static_cast<size_t>(src.rows), cudaMemcpyDeviceToHost, stream()),
           "cudaMemcpy2DAsync (device to host)") &&
       context_->check(cudaStreamSynchronize(stream()), "running the queued ops");
  // The error waits for synchronize(); meanwhile nothing may mistake stale values for results.
  if (!ok) std::fill(host.begin(), host.end(), std::numeric_limits<float>::quiet_NaN());
}

Result<Weight> CudaBackend::prepare_weight(const HostMatrix& host, Precision precision) {
  context_->make_current();
  const auto bytes = weight_bytes(name(), host, precision);
  if (!bytes.ok()) return bytes.status();
  const DType dtype = weight_dtype(precision);
  auto memory = context_->allocate(*bytes, "prepare " + weight_description(host, precision) + " (" +
                                               std::to_string(*bytes) + " bytes)");
  if (!memory.ok()) return memory.status();
  upload_rows(TensorView{memory->data(), dtype, host.rows, host.cols, host.cols}, host);
  if (context_->failed()) return context_->take_error();
  return Weight(std::make_unique<cuda::CudaWeight>(std::move(*memory)), dtype, host.rows,
                host.cols);
}

const std::byte* CudaBackend::upload_table(const void* data, size_t bytes) {
  if (bytes <= cuda::MappedTables::kMaxBytes) return mapped_tables_.place(*context_, data, bytes);
  auto buffer = tables_.ensure(*context_, bytes, "op tables");
  if (!buffer.ok()) {
    context_->record(buffer.status());
    return nullptr;
  }
  if (!table_uploads_.copy(*context_, *buffer, data, bytes)) return nullptr;
  return *buffer;
}

void CudaBackend::gather_rows(TensorView out, const Weight& table, std::span<const int32_t> ids) {
  require_gather_rows(out, table, ids);
  if (ids.empty() || out.cols == 0) return;
  const cuda::OpScope scope = enter("gather_rows");
  const std::byte* weights = cuda::cuda_weight(table).data();
  const std::byte* device_ids = upload_table(ids.data(), ids.size_bytes());
  if (device_ids == nullptr) return;
  context_->check(cuda::launch_gather_rows(stream(), out, weights, table.dtype(),
                                           reinterpret_cast<const int32_t*>(device_ids)),
                  "gather_rows kernel");
}

void CudaBackend::copy_rows(TensorView dst, TensorView src, std::span<const int64_t> dst_rows) {
  require_copy_rows(dst, src, dst_rows);
  if (src.num_elements() == 0) return;
  const cuda::OpScope scope = enter("copy_rows");
  const std::byte* device_rows = upload_table(dst_rows.data(), dst_rows.size_bytes());
  if (device_rows == nullptr) return;
  context_->check(
      cuda::launch_copy_rows(stream(), dst, src, reinterpret_cast<const int64_t*>(device_rows)),
      "copy_rows kernel");
}

Status CudaBackend::check_attention(const AttentionParams& params) const {
  if (params.head_dim > cuda::kAttentionMaxHeadDim) {
    return Status::unsupported(
        context_->prefix("attention with head_dim " + std::to_string(params.head_dim) + " > " +
                         std::to_string(cuda::kAttentionMaxHeadDim) + " is not supported on CUDA"));
  }
  if (params.bf16_products && cuda::attention_mma_supports(params.head_dim)) return Status();
  // The f32 kernel keeps Q, K, V and P tiles in shared memory: 115 KiB at head_dim 128, more
  // than the 99 KiB a block may have on sm_86/sm_89 (A100 and H100 allow 163/227 KiB).
  const size_t shared = cuda::AttentionF32Layout(params.head_dim).bytes();
  const size_t limit = context_->properties().sharedMemPerBlockOptin;
  if (shared > limit) {
    return Status::unsupported(context_->prefix(
        "f32 attention with head_dim " + std::to_string(params.head_dim) + " needs " +
        std::to_string(shared) + " bytes of shared memory per block, this GPU allows " +
        std::to_string(limit) + ": use --precision bf16 (tensor cores) on it"));
  }
  return Status();
}

void CudaBackend::attention(TensorView out, TensorView q, std::span<const AttentionBlock> blocks,
                            const AttentionParams& params) {
  require_attention(out, q, blocks, params);
  // Key ranges must fit the int32 fields of the kernel's work items; the other limits
  // (check_attention) are a recorded error, as Qwen2VL::load asks them before any clip.
  for (const AttentionBlock& block : blocks) {
    require(block.k.rows <= std::numeric_limits<int32_t>::max() / 2, "attention",
            "more than 2^30 keys in a block");
  }
  const bool tensor_cores = params.bf16_products && cuda::attention_mma_supports(params.head_dim);
  const cuda::OpScope scope = enter(tensor_cores ? "attention (tensor cores)" : "attention (f32)");
  if (Status status = check_attention(params); !status.ok()) return context_->record(status);
  // Two thread blocks per multiprocessor: enough to hide a split's imbalance.
  const int target_items = 2 * context_->properties().multiProcessorCount;
  const cuda::AttentionPlan plan = cuda::make_attention_plan(blocks, params, target_items);
  if (plan.item_count == 0) return;
  const std::byte* tables = upload_table(plan.tables.data(), plan.tables.size());
  if (tables == nullptr) return;
  float* partials = nullptr;
  int32_t* arrivals = nullptr;
  if (plan.partial_count > 0) {
    const size_t bytes = static_cast<size_t>(plan.partial_count) *
                         cuda::attention_partial_floats(params.head_dim) * sizeof(float);
    auto scratch = attention_partials_.ensure(*context_, bytes, "attention partial states");
    if (!scratch.ok()) return context_->record(scratch.status());
    partials = reinterpret_cast<float*>(*scratch);
    auto counters = attention_arrivals_.ensure_zeroed(
        *context_, static_cast<size_t>(plan.combine_count) * sizeof(int32_t),
        "attention arrival counters");
    if (!counters.ok()) return context_->record(counters.status());
    arrivals = reinterpret_cast<int32_t*>(*counters);
  }
  const cuda::AttentionLaunch launch =
      cuda::make_attention_launch(plan, tables, out, q, partials, arrivals, params);
  context_->check(cuda::launch_attention(stream(), launch), "attention kernel");
}

void CudaBackend::process_scores(TensorView scores, std::span<const ScoreRowRule> rules,
                                 std::span<LargestScore> largest) {
  require_process_scores(scores, rules, largest);
  if (rules.empty()) return;
  const cuda::OpScope scope = enter("process_scores");
  // Until the results are in, the rows read as "look at the scores": a failure leaves the
  // caller on its host path, and the error waits for synchronize() as every op's does.
  std::fill(largest.begin(), largest.end(), LargestScore{.has_nan = true});
  const auto rows = static_cast<int32_t>(rules.size());
  const int32_t parts = cuda::score_parts(static_cast<int32_t>(scores.cols));
  // One table: the rows' rules, then every row's ids.
  std::vector<cuda::ScoreRowDesc> descs(rules.size());
  size_t id_count = 0;
  for (size_t r = 0; r < rules.size(); ++r) {
    descs[r] = cuda::ScoreRowDesc{static_cast<int32_t>(id_count),
                                  static_cast<int32_t>(rules[r].penalized.size()), rules[r].penalty,
                                  rules[r].divisor};
    id_count += rules[r].penalized.size();
  }
  const size_t desc_bytes = descs.size() * sizeof(cuda::ScoreRowDesc);
  std::vector<std::byte> table(desc_bytes + id_count * sizeof(int32_t));
  std::memcpy(table.data(), descs.data(), desc_bytes);
  size_t offset = desc_bytes;
  for (const ScoreRowRule& rule : rules) {
    if (!rule.penalized.empty())
      std::memcpy(table.data() + offset, rule.penalized.data(), rule.penalized.size_bytes());
    offset += rule.penalized.size_bytes();
  }
  const std::byte* device_table = upload_table(table.data(), table.size());
  if (device_table == nullptr) return;
  const size_t result_bytes = rules.size() * sizeof(cuda::ScoreMax);
  auto maxima = score_maxima_.ensure(
      *context_,
      static_cast<size_t>(rows) * static_cast<size_t>(parts + 1) * sizeof(cuda::ScoreMax),
      "process_scores maxima");
  if (!maxima.ok()) return context_->record(maxima.status());
  if (score_results_.size_bytes() < result_bytes) {
    score_results_ = cuda::PinnedMemory();
    auto pinned =
        context_->allocate_pinned(std::max<size_t>(result_bytes, 4096), "process_scores results");
    if (!pinned.ok()) return context_->record(pinned.status());
    score_results_ = std::move(*pinned);
  }
  auto arrivals = score_arrivals_.ensure_zeroed(
      *context_, static_cast<size_t>(rows) * sizeof(int32_t), "process_scores arrival counters");
  if (!arrivals.ok()) return context_->record(arrivals.status());
  auto* partials = reinterpret_cast<cuda::ScoreMax*>(*maxima);
  cuda::ScoreLaunch launch{};
  launch.scores = reinterpret_cast<float*>(scores.data);
  launch.stride = scores.row_stride;
  launch.rows = rows;
  launch.cols = static_cast<int32_t>(scores.cols);
  launch.parts = parts;
  launch.rules = reinterpret_cast<const cuda::ScoreRowDesc*>(device_table);
  launch.ids = reinterpret_cast<const int32_t*>(device_table + desc_bytes);
  launch.partials = partials;
  launch.results = partials + static_cast<size_t>(rows) * static_cast<size_t>(parts);
  launch.arrivals = reinterpret_cast<int32_t*>(*arrivals);
  const bool ok =
      context_->check(cuda::launch_process_scores(stream(), launch), "process_scores kernels") &&
      context_->check(cudaMemcpyAsync(score_results_.data(), launch.results, result_bytes,
                                      cudaMemcpyDeviceToHost, stream()),
                      "cudaMemcpyAsync (process_scores results)") &&
      context_->check(cudaStreamSynchronize(stream()), "running the queued ops");
  if (!ok) return;
  const auto* results = reinterpret_cast<const cuda::ScoreMax*>(score_results_.data());
  for (size_t r = 0; r < rules.size(); ++r) {
    largest[r] = LargestScore{results[r].largest, results[r].first, results[r].count,
                              results[r].has_nan != 0};
  }
}

}  // namespace

Result<std::unique_ptr<Backend>> make_cuda_backend(const CudaBackendOptions& options) {
  if (Status s = cuda::check_device(options.device); !s.ok()) return s;
  auto context = CudaContext::create(options.device);
  if (!context.ok()) return context.status();
  auto gemm = cuda::GemmEngine::create(**context);
  if (!gemm.ok()) return gemm.status();
  return std::unique_ptr<Backend>(
      std::make_unique<CudaBackend>(std::move(*context), std::move(*gemm), options.profile));
}

std::string cuda_profile_report(Backend& backend, bool restart) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  return cuda == nullptr ? "" : cuda->profile_report(restart);
}

}  // namespace vcap::tensor
