// `vcap bench`: time the whole captioning path on one clip (or a batch of copies) and hold it
// against the machine's own yardsticks measured in the same run (pipeline/benchmark.h).
//
//   vcap bench [--model DIR|ID] [--video FILE | --clip-seconds S] [--bs N] [--clips N]
//              [--max-new-tokens N] [--device D] [--threads N] [--precision P] [--json]
//
// Without --model the random 2B checkpoint is generated once into --work-dir; without --video
// a 1280x720 30 fps clip is. Generation never stops at eos, so every clip makes
// --max-new-tokens tokens. Prints a Markdown report, or one JSON object with --json.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "io/atomic_file.h"
#include "pipeline/benchmark.h"

#ifndef VCAP_SIDE_FILES_DIR
#define VCAP_SIDE_FILES_DIR ""
#endif

namespace vcap::cli {
namespace {

struct BenchFlags {
  pipeline::BenchOptions options;
  std::string precision = "bf16";
  std::string video;
  std::string work_dir;
  std::string side_files = VCAP_SIDE_FILES_DIR;
  bool json = false;
  std::string json_file;
  bool no_yardsticks = false;
};

void run(BenchFlags& flags) {
  pipeline::BenchOptions options = flags.options;
  options.caption.precision =
      flags.precision == "f32" ? pipeline::Precision::kF32 : pipeline::Precision::kBf16;
  options.video = flags.video;
  options.work_dir = flags.work_dir;
  options.side_files = flags.side_files;
  options.yardsticks = !flags.no_yardsticks;
  Result<pipeline::BenchReport> report = pipeline::run_benchmark(options, stderr);
  if (!report) throw CommandFailed(report.status(), kExitFailures);
  const std::string json = pipeline::bench_report_json(*report).dump(2) + "\n";
  if (!flags.json_file.empty()) fail_if_error(io::write_file_atomically(flags.json_file, json));
  const std::string text = flags.json ? json : pipeline::bench_report_markdown(*report);
  std::fputs(text.c_str(), stdout);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  pipeline::CaptionOptions& o = flags->options.caption;
  o.model.clear();
  CLI::App* command = app.add_subcommand(
      "bench", "Time captioning per stage against this machine's GEMM rate and bandwidth");
  command->add_option("--model", o.model,
                      "model folder or hub id (default: the random 2B, generated once)");
  command->add_option("--video", flags->video, "clip to caption (default: a generated one)")
      ->check(CLI::ExistingFile);
  command
      ->add_option("--clip-seconds", flags->options.clip_seconds,
                   "length of the generated 1280x720 30 fps clip")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  command->add_option("--bs", o.bs, "clips generated together")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command->add_option("--clips", flags->options.clips, "clips captioned (0 = --bs)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  command->add_option("--max-new-tokens", o.max_new_tokens, "tokens generated per clip")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_option("--question", o.question, "question asked")->capture_default_str();
  command->add_option("--fps", o.fps, "frames sampled per second")
      ->check(CLI::Range(0.01, 1000.0))
      ->capture_default_str();
  command->add_option("--height", o.height, "with --width: pixel-area cap per frame")
      ->check(CLI::Range(28, 16384))
      ->capture_default_str();
  command->add_option("--width", o.width, "with --height: pixel-area cap per frame")
      ->check(CLI::Range(28, 16384))
      ->capture_default_str();
  command->add_option("--device", o.device, "cpu or cuda:N")->capture_default_str();
  command->add_option("--threads", o.threads, "CPU compute threads (0 = all cores)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  command->add_option("--precision", flags->precision, "bf16 or f32")
      ->check(CLI::IsMember({"bf16", "f32"}))
      ->capture_default_str();
  command->add_option("--decode-threads", o.decode_threads, "decode threads (0 = automatic)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  command
      ->add_option("--work-dir", flags->work_dir,
                   "where the generated model and clips are kept (default: <tmp>/vcap_bench)")
      ->capture_default_str();
  command
      ->add_option("--side-files", flags->side_files,
                   "tokenizer and config files for the generated model")
      ->capture_default_str();
  command->add_flag("--no-yardsticks", flags->no_yardsticks,
                    "skip the bare-GEMM and bandwidth measurements");
  command->add_flag("--json", flags->json, "print one JSON object instead of Markdown");
  command->add_option("--json-file", flags->json_file, "also write the JSON object to this file");
  command->callback([flags] { run(*flags); });
}

}  // namespace vcap::cli
