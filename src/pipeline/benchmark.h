// `vcap bench`: the whole captioning path (decode, preprocess, vision, prefill, generation) on
// one clip or a batch of copies of it, through the same engine and captioner as `vcap caption`,
// timed per stage and held against yardsticks measured in the same process: the bare oneDNN
// GEMM rate on the model's own GEMM shapes (tensor/cpu/raw_matmul.h) and a copy-loop memory
// bandwidth (the floor of a decode step, which streams every decoder weight once).
//
// Only GEMM FLOPs are counted (attention, norms and activations add time, never FLOPs), so
// `vision_tflops / raw_vision_tflops` is the share of the machine's GEMM rate the whole stage
// achieves. Without --model the random 2B checkpoint (model/test_model.h) is generated once into
// the work folder; without --video a 1280x720 30 fps clip of --clip-seconds is (both reused).
#ifndef VCAP_PIPELINE_BENCHMARK_H_
#define VCAP_PIPELINE_BENCHMARK_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/caption_options.h"

namespace vcap::pipeline {

struct BenchOptions {
  // model (empty: the random 2B), device, threads, precision, bs, max_new_tokens, fps,
  // height/width, question, decode threads.
  CaptionOptions caption;
  std::filesystem::path video;       // empty: a generated clip
  double clip_seconds = 10;          // length of the generated clip
  int clips = 0;                     // copies of the clip captioned; 0 = bs
  std::filesystem::path work_dir;    // generated model and clips; empty = <tmp>/vcap_bench
  std::filesystem::path side_files;  // tokenizer and configs for the generated model
  bool yardsticks = true;            // measure the raw GEMM rate and the bandwidth
};

// One GEMM shape of the model, timed bare.
struct RawGemm {
  std::string name;
  int64_t m = 0, k = 0, n = 0;
  double tflops = 0;
  std::string implementation;
};

struct BenchReport {
  // What ran.
  std::string machine;  // CPU model, cores, ISA extensions that matter
  std::string device;
  int threads = 0;
  std::string precision;
  std::filesystem::path model_dir;
  std::filesystem::path video;
  int clips = 0;
  int bs = 0;
  int64_t frames = 0;         // sampled frames per clip
  int64_t visual_tokens = 0;  // per clip
  int64_t prompt_tokens = 0;  // per clip, video expanded
  int64_t new_tokens = 0;     // generated per clip

  // Seconds, summed over clips (decode threads run beside the model: their seconds overlap
  // it). total_s is the wall time of the whole engine run, from the first job to the last row.
  double load_s = 0;
  double decode_s = 0;
  double preprocess_s = 0;
  double vision_s = 0;
  double prefill_s = 0;
  double generation_s = 0;
  double decode_select_s = 0;  // of generation_s: choosing the tokens from the logits
  double total_s = 0;
  double model_s() const { return vision_s + prefill_s + generation_s; }

  double vision_gemm_flops = 0;   // over all clips
  double prefill_gemm_flops = 0;  // over all clips
  double vision_tflops = 0;
  double prefill_tflops = 0;

  int64_t decode_steps = 0;                   // batched decode passes
  double decode_ms_per_token = 0;             // per step (one token of every sequence)
  double decode_tokens_per_s = 0;             // over all sequences
  double decode_bytes_per_step = 0;           // weights streamed + KV cache read, mean over steps
  double decode_floor_ms_per_token = 0;       // decode_bytes_per_step / copy bandwidth
  double decode_read_floor_ms_per_token = 0;  // decode_bytes_per_step / read bandwidth
  double select_ms_per_step = 0;  // of decode_ms_per_token: choosing the tokens from the logits
  int64_t generated_tokens = 0;   // over all clips
  int64_t tokens_chosen_on_host = 0;  // of generated_tokens (model::StageTimes)
  // The steps that had a single sequence (part of decode_steps), and their seconds.
  int64_t single_decode_steps = 0;
  double single_decode_s = 0;
  // --bs > 1: the steps with several sequences against those with one (a last clip alone, as
  // with --clips 5 --bs 4), both from this run; 0 when the run has not both kinds.
  double batched_ms_per_step = 0;
  double batched_sequences_per_step = 0;  // mean sequences in a step with several
  double single_ms_per_step = 0;
  double batched_over_single_tokens_per_s = 0;

  // Yardsticks (0 when not measured).
  std::vector<RawGemm> raw_gemms;
  double raw_vision_tflops = 0;   // the vision GEMM mix at the stage's row count
  double raw_prefill_tflops = 0;  // the prefill GEMM mix at the chunk's row count
  double raw_gemm_tflops = 0;     // both mixes together
  // Memory bandwidth, the better of a measurement before and one after the model.
  double bandwidth_gbs = 0;       // copy loop, bytes read + written (the STREAM convention)
  double read_bandwidth_gbs = 0;  // read-only loop: what a decode step does

  // The run's floor: its GEMM FLOPs at the same-run bare rate plus its decode bytes at the
  // read bandwidth (0 without yardsticks). total_s / floor_s is how far the whole run is from it.
  double floor_s = 0;

  uint64_t weight_bytes = 0;
  uint64_t peak_rss_bytes = 0;
};

// Runs the benchmark; progress lines go to `log`. Errors: the model or video cannot be made or
// loaded, or a clip fails (its reason).
Result<BenchReport> run_benchmark(const BenchOptions& options, std::FILE* log);

// The report as one JSON object (seconds per stage, rates, yardsticks, peak RSS).
nlohmann::json bench_report_json(const BenchReport& report);

// The report as a Markdown table for people (and bench/results).
std::string bench_report_markdown(const BenchReport& report);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_BENCHMARK_H_
