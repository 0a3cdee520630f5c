#include "pipeline/benchmark.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "base/stopwatch.h"
#include "media/synthetic_clip.h"
#include "model/gemm_work.h"
#include "model/test_model.h"
#include "pipeline/caption_engine.h"
#include "pipeline/caption_run.h"
#include "pipeline/model_captioner.h"
#include "tensor/cpu/memory_bandwidth.h"
#include "tensor/cpu/raw_matmul.h"

namespace vcap::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB
}

// "AMD EPYC, 2 cores, avx512f avx512_bf16" from /proc/cpuinfo: the facts that decide which
// kernels oneDNN and vcap can use.
std::string describe_machine() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU", flags;
  while (std::getline(cpuinfo, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    if (line.starts_with("model name") && model == "unknown CPU") model = line.substr(colon + 2);
    if (line.starts_with("flags") && flags.empty()) flags = " " + line.substr(colon + 2) + " ";
  }
  std::string text = model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores";
  for (const char* isa : {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    if (flags.find(std::string(" ") + isa + " ") != std::string::npos)
      text += std::string(" ") + isa;
  return text;
}

// The random 2B checkpoint in `dir`, generated (through a temporary folder) if absent.
Status ensure_random_2b(const fs::path& dir, const fs::path& side_files, std::FILE* log) {
  if (fs::exists(dir / "config.json")) return Status::ok_status();
  const fs::path partial = dir.string() + ".partial";
  std::error_code error;
  fs::remove_all(partial, error);
  std::fprintf(log, "vcap bench: generating the random 2B checkpoint into %s\n", dir.c_str());
  model::MakeTestModelOptions make;
  make.side_files_dir = side_files;
  make.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (Status s = model::make_test_model(*model::test_model_preset("2b"), partial, make); !s.ok())
    return s.with_context("generating the random 2B checkpoint");
  fs::rename(partial, dir, error);
  if (error) return Status::from_errno("cannot rename " + partial.string(), error.value());
  return Status::ok_status();
}

Result<fs::path> ensure_clip(const fs::path& work_dir, double seconds, std::FILE* log) {
  char name[64];
  std::snprintf(name, sizeof(name), "clip_%gs_1280x720_30fps.mp4", seconds);
  const fs::path path = work_dir / name;
  if (fs::exists(path)) return path;
  Result<std::string> encoder = media::write_synthetic_clip(path, {1280, 720, 30, seconds});
  if (!encoder) return encoder.status();
  std::fprintf(log, "vcap bench: wrote %s (%s)\n", path.c_str(), encoder->c_str());
  return path;
}

// GEMM FLOPs and the seconds they took, summed over several bare GEMMs.
struct GemmWork {
  double flops = 0;
  double seconds = 0;
  double tflops() const { return seconds > 0 ? flops / seconds / 1e12 : 0.0; }
};

// Times each GEMM of `gemms` bare at `rows` rows, appends it to `out`, and returns their sum.
Result<GemmWork> time_raw_gemms(const std::vector<model::WeightGemm>& gemms, int64_t rows,
                                tensor::Precision precision, std::vector<RawGemm>& out) {
  GemmWork total;
  for (const model::WeightGemm& g : gemms) {
    Result<tensor::RawMatmul> matmul = tensor::RawMatmul::create(rows, g.k, g.n, precision);
    if (!matmul) return matmul.status();
    const GemmWork one{matmul->flops(), matmul->best_seconds(3)};
    out.push_back({g.name, rows, g.k, g.n, one.tflops(), matmul->implementation()});
    total.flops += one.flops;
    total.seconds += one.seconds;
  }
  return total;
}

Status measure_yardsticks(const model::Qwen2VL& model, int64_t vision_rows, int64_t prefill_rows,
                          BenchReport& report) {
  const tensor::Precision precision = model.precision();
  Result<GemmWork> vision = time_raw_gemms(model::vision_block_gemms(model.dims().vision),
                                           vision_rows, precision, report.raw_gemms);
  if (!vision) return vision.status();
  Result<GemmWork> prefill = time_raw_gemms(model::decoder_layer_gemms(model.dims().text),
                                            prefill_rows, precision, report.raw_gemms);
  if (!prefill) return prefill.status();
  report.raw_vision_tflops = vision->tflops();
  report.raw_prefill_tflops = prefill->tflops();
  report.raw_gemm_tflops =
      GemmWork{vision->flops + prefill->flops, vision->seconds + prefill->seconds}.tflops();
  return Status::ok_status();
}

// Copy and read-only memory bandwidth, kept when better than an earlier measurement: a shared
// machine's bandwidth moves during a run, and the floors take the stricter figure.
void measure_bandwidth(BenchReport& report) {
  report.bandwidth_gbs =
      std::max(report.bandwidth_gbs, tensor::measure_memory_bandwidth_gbs(report.threads));
  report.read_bandwidth_gbs =
      std::max(report.read_bandwidth_gbs, tensor::measure_read_bandwidth_gbs(report.threads));
}

// Captions `clips` copies of `video` through the engine; fills the stage seconds.
Status caption_copies(ModelCaptioner& captioner, const CaptionOptions& caption,
                      const fs::path& video, int clips, BenchReport& report) {
  const EngineConfig config = machine_engine_config(caption, captioner, /*processes=*/1);
  const ClipJob job{0, video.string(), video};
  const ClipValue<ClipCost> cost = captioner.plan(job, config.settings);
  if (!cost.outcome.ok())
    return Status::invalid_argument(video.string() + ": " + cost.outcome.message);
  report.frames = cost.value.frames;
  report.visual_tokens = cost.value.visual_tokens;
  report.prompt_tokens = captioner.prompt_template_tokens() + cost.value.visual_tokens - 1;
  int next = 0;
  JobSource source = [&]() -> Result<std::optional<ClipJob>> {
    if (next == clips) return std::optional<ClipJob>();
    return std::optional<ClipJob>(ClipJob{static_cast<uint64_t>(next++), job.path, job.file});
  };
  Status failure;
  RecordSink sink = [&](const JournalRecord& record) {
    if (record.status != ClipStatus::kOk && failure.ok())
      failure = Status::internal(video.string() + ": " + clip_status_name(record.status) + ": " +
                                 record.error);
    return Status::ok_status();
  };
  const auto start = Clock::now();
  Result<EngineReport> engine = run_engine(config, captioner, source, sink, nullptr);
  report.total_s = seconds_since(start);
  if (!engine) return engine.status();
  if (!failure.ok()) return failure;
  const CaptionerTimes times = captioner.times();
  report.decode_s = times.decode_s;
  report.preprocess_s = times.preprocess_s;
  report.vision_s = times.model.vision_s;
  report.prefill_s = times.model.prefill_s;
  report.generation_s = times.model.decode_s;
  report.decode_select_s = times.model.decode_select_s;
  report.generated_tokens = times.model.generated_tokens;
  report.tokens_chosen_on_host = times.model.tokens_chosen_on_host;
  report.decode_steps = times.model.decode_steps;
  report.single_decode_steps = times.model.single_decode_steps;
  report.single_decode_s = times.model.single_decode_s;
  report.new_tokens = times.model.generated_tokens / clips;
  const model::ModelDims& dims = captioner.model().dims();
  report.vision_gemm_flops = model::vision_gemm_flops(dims.vision, times.model.vision_patches);
  report.prefill_gemm_flops = model::decoder_gemm_flops(dims.text, times.model.prompt_tokens) +
                              model::lm_head_flops(dims.text, clips);
  return Status::ok_status();
}

void derive_rates(const model::Qwen2VL& model, BenchReport& report) {
  if (report.vision_s > 0) report.vision_tflops = report.vision_gemm_flops / report.vision_s / 1e12;
  if (report.prefill_s > 0)
    report.prefill_tflops = report.prefill_gemm_flops / report.prefill_s / 1e12;
  if (report.decode_steps <= 0 || report.generation_s <= 0) return;
  report.decode_ms_per_token = 1e3 * report.generation_s / static_cast<double>(report.decode_steps);
  report.select_ms_per_step =
      1e3 * report.decode_select_s / static_cast<double>(report.decode_steps);
  const int64_t decoded = (report.new_tokens - 1) * report.clips;  // first tokens come from prefill
  report.decode_tokens_per_s = static_cast<double>(decoded) / report.generation_s;
  // Batching against bs 1 in this run: the steps with several sequences (however many each
  // had) against those with one, each of which makes one token.
  const int64_t batched_steps = report.decode_steps - report.single_decode_steps;
  const double batched_s = report.generation_s - report.single_decode_s;
  if (report.bs > 1 && batched_steps > 0 && batched_s > 0 && report.single_decode_steps > 0 &&
      report.single_decode_s > 0) {
    report.batched_ms_per_step = 1e3 * batched_s / static_cast<double>(batched_steps);
    report.single_ms_per_step =
        1e3 * report.single_decode_s / static_cast<double>(report.single_decode_steps);
    report.batched_sequences_per_step = static_cast<double>(decoded - report.single_decode_steps) /
                                        static_cast<double>(batched_steps);
    report.batched_over_single_tokens_per_s =
        report.batched_sequences_per_step * report.single_ms_per_step / report.batched_ms_per_step;
  }
  // Cached tokens a step reads, on average: each of its sequences reads its cache, which holds
  // the prompt and, over the run, half the new tokens on average.
  const int64_t cached =
      decoded * (report.prompt_tokens + report.new_tokens / 2) / report.decode_steps;
  report.decode_bytes_per_step =
      model::decode_step_bytes(model.dims().text, model.kv_cache_dtype(), cached);
  if (report.bandwidth_gbs > 0)
    report.decode_floor_ms_per_token = report.decode_bytes_per_step / (report.bandwidth_gbs * 1e6);
  if (report.read_bandwidth_gbs > 0)
    report.decode_read_floor_ms_per_token =
        report.decode_bytes_per_step / (report.read_bandwidth_gbs * 1e6);
  if (report.raw_gemm_tflops > 0 && report.read_bandwidth_gbs > 0)
    report.floor_s =
        (report.vision_gemm_flops + report.prefill_gemm_flops) / (report.raw_gemm_tflops * 1e12) +
        static_cast<double>(report.decode_steps) * report.decode_bytes_per_step /
            (report.read_bandwidth_gbs * 1e9);
}

}  // namespace

Result<BenchReport> run_benchmark(const BenchOptions& options, std::FILE* log) {
  if (!(options.clip_seconds > 0) || options.clips < 0 || options.caption.bs < 0)
    return Status::invalid_argument("bench: want --clip-seconds > 0, --clips >= 0, --bs >= 0");
  const fs::path work_dir =
      options.work_dir.empty() ? fs::temp_directory_path() / "vcap_bench" : options.work_dir;
  std::error_code error;
  fs::create_directories(work_dir, error);
  if (error) return Status::from_errno("cannot create " + work_dir.string(), error.value());

  BenchReport report;
  CaptionOptions caption = options.caption;
  if (caption.model.empty()) {
    const fs::path dir = work_dir / "random-2b";
    if (Status s = ensure_random_2b(dir, options.side_files, log); !s.ok()) return s;
    caption.model = dir.string();
  }
  Result<fs::path> video = options.video.empty() ? ensure_clip(work_dir, options.clip_seconds, log)
                                                 : Result<fs::path>(options.video);
  if (!video) return video.status();

  ModelCaptionerFactory factory(caption);
  factory.ignore_eos();
  std::fprintf(log, "vcap bench: loading %s (%s, %s)\n", caption.model.c_str(),
               precision_name(caption.precision), caption.device.c_str());
  const auto load_start = Clock::now();
  Result<std::unique_ptr<ModelCaptioner>> captioner = factory.create_model_captioner();
  if (!captioner) return captioner.status();
  report.load_s = seconds_since(load_start);
  const model::Qwen2VL& model = (*captioner)->model();

  report.machine = describe_machine();
  report.device = caption.device;
  report.threads = model_threads(caption);
  report.precision = precision_name(caption.precision);
  report.model_dir = caption.model;
  report.video = *video;
  report.bs = batch_size(caption);
  report.clips = options.clips > 0 ? options.clips : report.bs;
  report.weight_bytes = static_cast<uint64_t>(model.weight_bytes());
  std::fprintf(log, "vcap bench: captioning %d clip(s) of %s, batch %d\n", report.clips,
               video->c_str(), report.bs);
  const bool yardsticks = options.yardsticks && caption.device == "cpu";
  if (yardsticks) measure_bandwidth(report);  // and again after the model
  if (Status s = caption_copies(**captioner, caption, *video, report.clips, report); !s.ok())
    return s;
  if (yardsticks) {
    std::fprintf(log, "vcap bench: measuring bare oneDNN GEMMs and memory bandwidth\n");
    // The tower runs whole frame pairs per chunk, as many as fit in chunks().vision_rows.
    const model::VisionDims& v = model.dims().vision;
    const int64_t patches = report.visual_tokens * v.merge_size * v.merge_size;
    const int64_t slices =
        std::max<int64_t>(1, (report.frames + v.temporal_patch_size - 1) / v.temporal_patch_size);
    const int64_t per_slice = patches / slices;
    const int64_t batch_patches = patches * std::min(report.bs, report.clips);
    const int64_t vision_rows = std::min(
        batch_patches, std::max<int64_t>(1, model.chunks().vision_rows / per_slice) * per_slice);
    const int64_t prefill_rows = std::min(report.prompt_tokens, model.chunks().prefill_rows);
    if (Status s = measure_yardsticks(model, vision_rows, prefill_rows, report); !s.ok()) return s;
    measure_bandwidth(report);
  }
  derive_rates(model, report);
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

}  // namespace vcap::pipeline
