// `vcap bench`: time the whole captioning path on one clip (or a batch of copies) and hold it
// against the machine's own yardsticks measured in the same run (pipeline/benchmark.h).
//
//   vcap bench [--model DIR|ID] [--video FILE | --clip-seconds S] [--clips N] [--json]
//              [the model and sampling flags of `vcap caption`: --bs, --max-new-tokens, --fps,
//               --device, --threads, --precision, ... (cli/model_flags.h)]
//
// Without --model the random 2B checkpoint is generated once into --work-dir; without --video
// a 1280x720 30 fps clip is. Generation never stops at eos, so every clip makes
// --max-new-tokens tokens. Prints a Markdown report, or one JSON object with --json.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "io/atomic_file.h"
#include "pipeline/benchmark.h"

#ifndef VCAP_SIDE_FILES_DIR
#define VCAP_SIDE_FILES_DIR ""
#endif

namespace vcap::cli {
namespace {

struct BenchFlags {
  pipeline::BenchOptions options;
  std::string video;
  std::string work_dir;
  std::string side_files = VCAP_SIDE_FILES_DIR;
  bool json = false;
  std::string json_file;
  bool no_yardsticks = false;
};

void run(BenchFlags& flags) {
  pipeline::BenchOptions options = flags.options;
  fail_if_error(pipeline::validate_model_settings(options.caption));
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
  o.model.clear();  // no default shown: the random 2B, generated on first use
  CLI::App* command = app.add_subcommand(
      "bench", "Time captioning per stage against this machine's GEMM rate and bandwidth");
  add_model_flags(*command, o);
  command->get_option("--model")->description(
      "Hugging Face hub id or local model folder (default: the random 2B, generated once)");
  command->add_option("--video", flags->video, "Clip to caption (default: a generated one)")
      ->check(CLI::ExistingFile);
  command
      ->add_option("--clip-seconds", flags->options.clip_seconds,
                   "Length of the generated 1280x720 30 fps clip")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  command->add_option("--clips", flags->options.clips, "Clips captioned (0 = --bs)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  command
      ->add_option("--work-dir", flags->work_dir,
                   "Where the generated model and clips are kept (default: <tmp>/vcap_bench)")
      ->capture_default_str();
  command
      ->add_option("--side-files", flags->side_files,
                   "Tokenizer and config files for the generated model")
      ->capture_default_str();
  command->add_flag("--no-yardsticks", flags->no_yardsticks,
                    "Skip the bare-GEMM and bandwidth measurements");
  command->add_flag("--json", flags->json, "Print one JSON object instead of Markdown");
  command->add_option("--json-file", flags->json_file, "Also write the JSON object to this file");
  command->callback([flags] { run(*flags); });
}

}  // namespace vcap::cli
