// CaptionOptions: everything `vcap caption` can be told, one field per command-line flag.
//
// The CLI (src/cli/caption_command.cpp) fills this struct and nothing else; the pipeline never
// reads flags or the environment on its own except where a field says so (rank/world from the
// launcher's environment, the memory budget from the machine). Every field carries its default.
#ifndef VCAP_PIPELINE_CAPTION_OPTIONS_H_
#define VCAP_PIPELINE_CAPTION_OPTIONS_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "pipeline/clip_status.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

enum class Precision { kBf16, kF32 };
enum class ProgressMode { kAuto, kBar, kLines, kNone };

const char* precision_name(Precision precision);  // "bf16", "f32"

struct CaptionOptions {
  // Input CSV with a `path` column (positional META.csv).
  std::filesystem::path meta_path;
  // Hugging Face hub id or a local model directory (--model, seed:
  // --pretrained_model_name_or_path).
  std::string model = "Qwen/Qwen2-VL-2B-Instruct";
  // Hub revision (branch, tag or commit) when `model` is a hub id.
  std::string revision = "main";
  // The user question put after the video (the seed README's default wording).
  std::string question = "Describe the video in details";
  int max_new_tokens = 200;  // generation budget per clip
  int height = 448;          // with width: the pixel-area cap per frame (height*width)
  int width = 672;
  double fps = 4;  // frame sampling rate
  int bs = 0;      // clips generated together (continuous batching); 0: batch_size() picks
  // Do nothing when the output file already exists (it is only ever created complete).
  bool skip_if_existing = false;
  // Output CSV; empty means default_output_path(meta_path).
  std::filesystem::path output;
  // Folder that relative `path` values are resolved against; empty means the current
  // directory (the seed resolved them against the working directory too).
  std::filesystem::path root;
  std::string device = "cpu";  // "cpu" or "cuda:N"
  // Processes of this machine on that GPU (resolve_device): they divide its default budget.
  int gpu_sharers = 1;
  // --devices 0,1,2,3: one worker process per CUDA device on this machine.
  std::vector<int> devices;
  int threads = 0;  // CPU compute threads; 0 = this process's share (decode_share.h core_share)
  Precision precision = Precision::kBf16;
  // Working-memory budget for clips in flight; 0 = from the machine (see memory_budget.h).
  uint64_t max_memory_bytes = 0;
  // Over-budget clips: false = status too_large; true = lower fps, then pixels, until they fit.
  bool fit = false;
  double decode_timeout_sec = 600;  // per clip; 0 = no deadline
  bool autorotate = true;           // apply rotation metadata (--no-autorotate clears)
  bool exact_size = false;          // resize frames to exactly height x width
  // Shard of the rows this process takes; unset = from the launcher's environment.
  std::optional<int> rank;
  std::optional<int> world_size;
  bool restart = false;  // discard journals of an earlier run instead of resuming
  // --retry: caption again only the rows of the existing output with these statuses, keeping
  // the others (pipeline/retry.h); empty = caption every row.
  std::vector<ClipStatus> retry;
  int decode_threads = 0;  // clips decoded in parallel ahead of the model; 0 = automatic
  int prefetch = 0;        // decoded clips waiting for the model; 0 = 2*bs+2 (GPU), bs+1 (CPU)
  ProgressMode progress = ProgressMode::kAuto;
};

// The seed's rule: "<stem>_caption_qwen2vl<last extension>" beside the input
// (data/meta.csv -> data/meta_caption_qwen2vl.csv, a.csv.gz -> a.csv_caption_qwen2vl.gz,
// meta -> meta_caption_qwen2vl).
std::filesystem::path default_output_path(const std::filesystem::path& meta_path);

// `options.output`, or the default beside the input.
std::filesystem::path output_path(const CaptionOptions& options);

// Checks the settings that decide what the model sees and how it runs, the flags `vcap caption`
// and `vcap bench` share (cli/model_flags.h): max_new_tokens, height/width, fps, bs, threads,
// decode_threads, device. `model` is not checked (bench reads empty as "the random 2B").
// kInvalidArgument names the flag.
Status validate_model_settings(const CaptionOptions& options);

// The largest frames `options` give lie within a model's preprocessor_config.json bounds:
// there, transformers' processor takes qwen-vl-utils' frames as they are; outside, it would
// resize them a second time, which vcap does not. kInvalidArgument saying which flags to change.
// (Frames under the bounds, which depend on each clip's shape, are refused clip by clip.)
Status check_processor_bounds(const CaptionOptions& options, int64_t min_pixels,
                              int64_t max_pixels);

// Everything `vcap caption` needs: the input and model are given, validate_model_settings, and
// the run-only ranges (prefetch, decode timeout, devices, rank/world pair). kInvalidArgument
// names the flag.
Status validate(const CaptionOptions& options);

// Parses a memory size: plain bytes ("1073741824"), binary units "512K", "8G", "8GiB",
// "1.5TiB", decimal units "8GB", "500MB". kInvalidArgument otherwise.
Result<uint64_t> parse_memory_size(std::string_view text);

// "7.5 GiB", "512 MiB", "100 B": for messages.
std::string format_bytes(uint64_t bytes);

// Parses "cpu" or "cuda:N" (also "cuda" = "cuda:0"); returns the CUDA index, -1 for cpu.
Result<int> parse_device(std::string_view device);

// --device as this process uses it, and one line for the log saying why (empty when there is
// nothing to say). "cuda" (no index) is the GPU of this process's local rank (shard.h):
// cuda:<local rank mod visible_gpus>, so that each process a launcher starts on a machine
// gets its own GPU (torchrun --nproc-per-node 8, mpirun -np 8), or an equal share of them
// when the processes outnumber the GPUs; cuda:0 without a launcher's local rank or without a
// visible GPU (the backend then says why). Any other device is kept as given, with a warning
// when it looks like a copy-pasted cuda:0 (a local rank > 0 on a machine with several GPUs).
// `sharers`: how many of the machine's processes (its launcher's local size) the same rule
// puts on that GPU, 1 when unknown.
struct ResolvedDevice {
  std::string device;
  std::string note;
  int sharers = 1;
};
ResolvedDevice resolve_device(const std::string& device, const EnvLookup& env, int visible_gpus);

// The batch a run uses: --bs when given, else 8 on a GPU and 4 on the CPU. A decode step
// streams the weights once for all its sequences: a GPU runs a step for 8 clips in about the time
// it takes for one, so a batch of 1 would leave it mostly idle; on the CPU a step of 4 costs
// ~1.8x a step of one (4 clips of 2 s with 200 new tokens: 1.19x the clips/s of bs 1,
// bench/results/cpu_bs_2026-11-27.md). Memory still decides how many clips actually join
// (caption_engine.h).
int batch_size(const CaptionOptions& options);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CAPTION_OPTIONS_H_
