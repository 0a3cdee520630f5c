// `vcap caption META.csv [options]`: caption every clip of a CSV (see README "Captioning a
// dataset" and pipeline/caption_run.h). The flags map one to one onto
// pipeline::CaptionOptions; those that decide what the model sees and how it runs are shared
// with `vcap bench` (cli/model_flags.h). The seed script's spellings are accepted as aliases.
//
// Exit codes: 0 when this process did its part (the output written, or this rank finished and
// another merges, or --skip-if-existing found the output), even if some clips failed (they carry
// a caption_status; the failure count is printed); 1 when the run stopped (a fatal error, a
// worker process crashed, the integrity check failed): rerun the same command to resume;
// 2 for bad input or setup (missing CSV, no `path` column, bad flag, changed settings).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/interruption.h"
#include "cli/model_flags.h"
#include "pipeline/caption_run.h"
#include "pipeline/decode_share.h"
#include "pipeline/model_captioner.h"
#include "pipeline/worker_processes.h"
#include "tensor/cuda/cuda_backend.h"

namespace vcap::cli {

struct CaptionFlags {
  pipeline::CaptionOptions options;
  std::string meta;
  std::string output;
  std::string root;
  std::string max_memory;
  std::string devices;
  std::string progress = "auto";
  std::optional<std::string> retry;  // given empty: refused, not taken for "no retry"
  std::optional<int> rank;           // absent: from the launcher's environment
  std::optional<int> world_size;
};

namespace {

std::string number(double value) {
  std::ostringstream text;
  text.precision(17);
  text << value;
  return text.str();
}

Result<std::vector<int>> parse_devices(const std::string& text) {
  std::vector<int> devices;
  if (text == "all") {
    const int count = tensor::cuda_device_count();
    if (count == 0) {
      return Status::invalid_argument("--devices all: no CUDA device: " +
                                      tensor::cuda_device_summary());
    }
    for (int i = 0; i < count; ++i) devices.push_back(i);
    return devices;
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const int device = std::stoi(item, &used);
      if (used != item.size() || device < 0) throw std::invalid_argument(item);
      if (std::find(devices.begin(), devices.end(), device) != devices.end()) {
        return Status::invalid_argument("--devices '" + text + "' names device " + item +
                                        " twice: one worker runs on each GPU");
      }
      devices.push_back(device);
    } catch (const std::exception&) {
      return Status::invalid_argument("--devices '" + text +
                                      "': expected indices like 0,1,2,3, or all");
    }
  }
  if (devices.empty()) return Status::invalid_argument("--devices is empty");
  return devices;
}

// The command line of one --devices worker: this run's options, one device, one rank.
std::vector<std::string> worker_command(const pipeline::CaptionOptions& o, int device, int rank,
                                        int world_size) {
  std::vector<std::string> args = {"/proc/self/exe",
                                   "caption",
                                   o.meta_path.string(),
                                   "--model",
                                   o.model,
                                   "--revision",
                                   o.revision,
                                   "--question",
                                   o.question,
                                   "--max-new-tokens",
                                   std::to_string(o.max_new_tokens),
                                   "--height",
                                   std::to_string(o.height),
                                   "--width",
                                   std::to_string(o.width),
                                   "--fps",
                                   number(o.fps),
                                   "--bs",
                                   std::to_string(o.bs),
                                   "--output",
                                   pipeline::output_path(o).string(),
                                   "--device",
                                   "cuda:" + std::to_string(device),
                                   "--threads",
                                   std::to_string(o.threads),
                                   "--precision",
                                   pipeline::precision_name(o.precision),
                                   "--decode-timeout",
                                   number(o.decode_timeout_sec),
                                   "--decode-threads",
                                   std::to_string(o.decode_threads),
                                   "--prefetch",
                                   std::to_string(o.prefetch),
                                   "--rank",
                                   std::to_string(rank),
                                   "--world-size",
                                   std::to_string(world_size),
                                   "--progress",
                                   o.progress == pipeline::ProgressMode::kNone ? "none" : "lines"};
  if (!o.root.empty()) args.insert(args.end(), {"--root", o.root.string()});
  if (o.max_memory_bytes > 0)
    args.insert(args.end(), {"--max-memory", std::to_string(o.max_memory_bytes)});
  if (o.skip_if_existing) args.push_back("--skip-if-existing");
  if (o.fit) args.push_back("--fit");
  if (!o.autorotate) args.push_back("--no-autorotate");
  if (o.exact_size) args.push_back("--exact-size");
  if (o.restart) args.push_back("--restart");
  if (!o.retry.empty())
    args.insert(args.end(), {"--retry", pipeline::retry_statuses_text(o.retry)});
  return args;
}

void run_devices(const pipeline::CaptionOptions& options) {
  Result<pipeline::Shard> outer =
      pipeline::resolve_shard(options.rank, options.world_size, pipeline::process_environment());
  fail_if_error(outer.status());
  const int count = static_cast<int>(options.devices.size());
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < count; ++i) {
    commands.push_back(worker_command(options, options.devices[static_cast<size_t>(i)],
                                      outer->rank * count + i, outer->world_size * count));
  }
  std::fprintf(stderr, "vcap: starting %d worker processes (devices %s)\n", count,
               [&] {
                 std::string list;
                 for (int d : options.devices)
                   list += (list.empty() ? "" : ",") + std::to_string(d);
                 return list;
               }()
                   .c_str());
  // The workers share this machine's cores: each decodes on its part (pipeline/decode_share.h).
  const int local = pipeline::local_processes(pipeline::process_environment()) * count;
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(local).c_str(), /*overwrite=*/1);
  // And they all inherit this process's CPU mask: a bound one is theirs to share, not each one's.
  ::setenv(pipeline::kMaskSharersVariable, std::to_string(count).c_str(), /*overwrite=*/1);
  mark_workers_quiet();
  Result<std::vector<pipeline::WorkerExit>> exits = pipeline::run_workers(commands);
  if (!exits) throw CommandFailed(exits.status(), kExitFailures);
  std::string failed;
  for (const pipeline::WorkerExit& exit : *exits) {
    if (exit.ok) continue;
    failed += (failed.empty() ? "" : "; ") + std::string("worker for device ") +
              std::to_string(options.devices[static_cast<size_t>(exit.index)]) + " " +
              exit.description;
  }
  if (failed.empty()) return;
  // Workers that all refused their setup (a bad flag, a GPU that is not there) have nothing to
  // resume: the fix is the setup, which each one reported above.
  const bool all_refused = std::all_of(exits->begin(), exits->end(), [](const auto& exit) {
    return exit.ok || exit.exit_status == kExitBadInput;
  });
  if (all_refused) throw CommandFailed(Status::invalid_argument(failed), kExitBadInput);
  throw CommandFailed(Status::internal(failed + "; rerun the same command to resume"),
                      kExitFailures);
}

std::string status_counts(const std::map<pipeline::ClipStatus, uint64_t>& counts,
                          uint64_t& failures) {
  std::string text;
  failures = 0;
  for (const auto& [status, count] : counts) {
    text += std::string(text.empty() ? "" : ", ") + pipeline::clip_status_name(status) + " " +
            std::to_string(count);
    if (!pipeline::has_caption(status)) failures += count;
  }
  return text;
}

void report(const pipeline::CaptionRunReport& run) {
  const std::string who = run.shard.world_size > 1 ? "rank " + std::to_string(run.shard.rank) +
                                                         "/" + std::to_string(run.shard.world_size)
                                                   : std::string("this run");
  switch (run.end) {
    case pipeline::RunEnd::kSkippedExisting:
      std::fprintf(stderr, "vcap: %s exists; nothing to do (--skip-if-existing)\n",
                   run.output.c_str());
      return;
    case pipeline::RunEnd::kWaitingForRanks: {
      std::string ranks;
      for (int rank : run.unfinished_ranks)
        ranks += (ranks.empty() ? "" : ", ") + std::to_string(rank);
      std::fprintf(stderr,
                   "vcap: %s finished; rank(s) %s not finished (still running, or to be rerun): "
                   "the last one to finish writes %s (or run `vcap merge` later)\n",
                   who.c_str(), ranks.c_str(), run.output.c_str());
      return;
    }
    case pipeline::RunEnd::kMergedElsewhere:
      if (run.merger.empty()) {
        std::fprintf(stderr, "vcap: %s finished; another process wrote %s\n", who.c_str(),
                     run.output.c_str());
        return;
      }
      // Should that merger be killed, its lock goes with it: the same command then merges.
      std::fprintf(stderr,
                   "vcap: %s finished; another process (%s) writes %s. Should it stop before "
                   "that, run the same command again\n",
                   who.c_str(), run.merger.c_str(), run.output.c_str());
      return;
    case pipeline::RunEnd::kMerged: {
      uint64_t failures = 0;
      const std::string counts = status_counts(run.merge->counts, failures);
      std::fprintf(stderr, "vcap: wrote %s: %llu rows%s; %llu without caption%s\n",
                   run.output.c_str(), static_cast<unsigned long long>(run.merge->rows),
                   counts.empty() ? "" : (" (" + counts + ")").c_str(),
                   static_cast<unsigned long long>(failures),
                   failures > 0 ? " (add --retry failed to caption them again)" : "");
      return;
    }
  }
}

void run_caption_command(const CaptionFlags& flags) {
  Result<pipeline::CaptionOptions> options = caption_options(flags);
  fail_if_error(options.status());
  announce_interruptions();
  if (!options->devices.empty()) {
    run_devices(*options);
    return;
  }
  const pipeline::EnvLookup env = pipeline::process_environment();
  // A --devices worker comes with its rank and its GPU, both on the command line.
  if (!(options->rank.has_value() && options->device != "cuda")) {
    // Counting the GPUs starts the CUDA driver: only when a launcher's local rank may pick one.
    const bool count_gpus = options->device.starts_with("cuda") && pipeline::local_rank(env);
    const pipeline::ResolvedDevice device = pipeline::resolve_device(
        options->device, env, count_gpus ? tensor::cuda_device_count() : 0);
    options->device = device.device;
    options->gpu_sharers = device.sharers;
    if (!device.note.empty()) std::fprintf(stderr, "%s\n", device.note.c_str());
  }
  pipeline::ModelCaptionerFactory factory(*options);
  Result<pipeline::CaptionRunReport> run = pipeline::run_caption(*options, factory, env, stderr);
  if (!run) throw CommandFailed(run.status(), exit_code_for(run.status()));
  report(*run);
}

}  // namespace

std::shared_ptr<CaptionFlags> add_caption_flags(CLI::App& command) {
  auto flags = std::make_shared<CaptionFlags>();
  pipeline::CaptionOptions& o = flags->options;
  command.add_option("meta", flags->meta, "Input CSV with a 'path' column")->required();
  add_model_flags(command, o);
  command.add_flag("--skip-if-existing,--skip_if_existing", o.skip_if_existing,
                   "Do nothing when the output file exists");
  command.add_option("--output", flags->output,
                     "Output CSV (default: <meta stem>_caption_qwen2vl<ext> beside the input)");
  command.add_option("--root", flags->root,
                     "Folder that relative paths are resolved against (default: current folder)");
  command.add_option("--devices", flags->devices,
                     "One worker process per CUDA device of this machine, e.g. 0,1,2,3, or all");
  command.add_option("--max-memory", flags->max_memory,
                     "Working-memory budget, e.g. 8G (default: 80% of free memory)");
  command.add_flag("--fit", o.fit, "Lower fps, then pixels, for clips over the budget");
  command
      .add_option("--decode-timeout", o.decode_timeout_sec,
                  "Seconds allowed to decode one clip (0 = no limit)")
      ->capture_default_str();
  command.add_option("--rank", flags->rank, "This process's rank (default: from the launcher)");
  command.add_option("--world-size", flags->world_size, "Number of ranks");
  command.add_flag("--restart", o.restart, "Discard earlier progress (journals) and start over");
  command.add_option("--retry", flags->retry,
                     "Caption again only the output's rows with these statuses (failed = all "
                     "without a caption, or a list like oom,timeout); keep the other rows");
  command
      .add_option("--prefetch", o.prefetch,
                  "Decoded clips waiting for the model (0 = 2*bs+2 on a GPU, bs+1 on the CPU)")
      ->capture_default_str();
  command.add_option("--progress", flags->progress, "auto, bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))
      ->capture_default_str();
  return flags;
}

Result<pipeline::CaptionOptions> caption_options(const CaptionFlags& flags) {
  pipeline::CaptionOptions options = flags.options;
  options.meta_path = flags.meta;
  options.output = flags.output;
  options.root = flags.root;
  options.progress = flags.progress == "bar"     ? pipeline::ProgressMode::kBar
                     : flags.progress == "lines" ? pipeline::ProgressMode::kLines
                     : flags.progress == "none"  ? pipeline::ProgressMode::kNone
                                                 : pipeline::ProgressMode::kAuto;
  if (!flags.max_memory.empty()) {
    Result<uint64_t> bytes = pipeline::parse_memory_size(flags.max_memory);
    if (!bytes) return bytes.status();
    options.max_memory_bytes = *bytes;
  }
  if (flags.retry) {
    Result<std::vector<pipeline::ClipStatus>> retry = pipeline::parse_retry_statuses(*flags.retry);
    if (!retry) return retry.status();
    options.retry = *retry;
  }
  if (!flags.devices.empty()) {
    Result<std::vector<int>> devices = parse_devices(flags.devices);
    if (!devices) return devices.status();
    options.devices = *devices;
  }
  options.rank = flags.rank;
  options.world_size = flags.world_size;
  if (Status status = pipeline::validate(options); !status.ok()) return status;
  return options;
}

Result<pipeline::CaptionOptions> merge_options(const CaptionFlags& flags) {
  CaptionFlags any_rank = flags;
  if (!any_rank.rank && any_rank.world_size) any_rank.rank = 0;
  return caption_options(any_rank);
}

void add_caption_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "caption", "Caption every clip of a CSV (resumable, shardable); see README");
  std::shared_ptr<CaptionFlags> flags = add_caption_flags(*command);
  command->callback([flags] { run_caption_command(*flags); });
}

}  // namespace vcap::cli
