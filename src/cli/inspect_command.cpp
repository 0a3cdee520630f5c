// `vcap inspect VIDEO --model M --out DIR [...]`: writes every intermediate result of captioning
// one clip with the golden data's file names and formats (pipeline/inspect.h), to compare vcap
// with the reference stage by stage.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "pipeline/inspect.h"

namespace vcap::cli {
namespace {

struct InspectFlags {
  pipeline::InspectOptions options;
  std::string out_dir;
  std::string pixel_values;
  std::string input_ids;
  std::vector<int64_t> grid;
  std::string precision = "f32";
  bool no_autorotate = false;
  bool no_model = false;
};

void run(InspectFlags& flags) {
  pipeline::InspectOptions& options = flags.options;
  options.out_dir = flags.out_dir;
  options.pixel_values_file = flags.pixel_values;
  options.input_ids_file = flags.input_ids;
  options.autorotate = !flags.no_autorotate;
  options.run_model = !flags.no_model;
  options.precision = flags.precision == "bf16" ? pipeline::Precision::kBf16
                                                : pipeline::Precision::kF32;
  if (!flags.grid.empty()) {
    if (flags.grid.size() != 3)
      throw CommandFailed(Status::invalid_argument("--grid takes three numbers: T,H,W"));
    options.grid_thw = {flags.grid[0], flags.grid[1], flags.grid[2]};
  }
  fail_if_error(pipeline::run_inspect(options));
  std::fprintf(stderr, "vcap inspect: wrote %s\n", options.out_dir.string().c_str());
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto flags = std::make_shared<InspectFlags>();
  pipeline::InspectOptions& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Write every intermediate result of captioning one clip (golden file formats)");
  cmd->add_option("video", o.video, "The clip (omit with --pixel-values)");
  cmd->add_option("--model", o.model, "Model folder or hub id")->required();
  cmd->add_option("--revision", o.revision, "Hub revision")->capture_default_str();
  cmd->add_option("--out", flags->out_dir, "Output folder")->required();
  cmd->add_option("--question", o.question, "The question after the video")
      ->capture_default_str();
  cmd->add_option("--fps", o.fps, "Frames sampled per second")->capture_default_str();
  cmd->add_option("--height", o.height, "max_pixels = height x width")->capture_default_str();
  cmd->add_option("--width", o.width, "max_pixels = height x width")->capture_default_str();
  cmd->add_flag("--exact-size", o.exact_size,
                "Resize to exactly height x width (multiples of 28) instead of an area cap");
  cmd->add_flag("--no-autorotate", flags->no_autorotate,
                "Ignore display rotation metadata (the reference's frames)");
  cmd->add_option("--pixel-values", flags->pixel_values,
                  ".npy float32 [patches, 1176]: use instead of decoding a video (needs --grid)");
  cmd->add_option("--grid", flags->grid, "Grid T,H,W of --pixel-values")->delimiter(',');
  cmd->add_option("--input-ids", flags->input_ids,
                  ".npy int64 [L]: use instead of the prompt's token ids");
  cmd->add_flag("--no-model", flags->no_model, "Stop after the video and prompt stages");
  cmd->add_option("--max-new-tokens", o.max_new_tokens, "Generation budget")
      ->capture_default_str();
  cmd->add_option("--precision", flags->precision, "f32 (parity) or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--device", o.device, "cpu or cuda:N")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Compute threads (0 = all cores)")
      ->capture_default_str();
  cmd->callback([flags] { run(*flags); });
}

}  // namespace vcap::cli
