#include "cli/model_flags.h"

#include <CLI/CLI.hpp>
#include <string>

#include "pipeline/caption_options.h"

namespace vcap::cli {

void add_model_flags(CLI::App& command, pipeline::CaptionOptions& options) {
  command
      .add_option("--model,--pretrained_model_name_or_path", options.model,
                  "Hugging Face hub id or local model folder")
      ->capture_default_str();
  command.add_option("--revision", options.revision, "Hub revision (branch, tag or commit)")
      ->capture_default_str();
  command.add_option("--question", options.question, "Question asked about each clip")
      ->capture_default_str();
  command
      .add_option("--max-new-tokens,--max_new_tokens", options.max_new_tokens,
                  "Generation budget per clip (tokens)")
      ->capture_default_str();
  command.add_option("--height", options.height, "With --width: pixel-area cap per frame")
      ->capture_default_str();
  command.add_option("--width", options.width, "With --height: pixel-area cap per frame")
      ->capture_default_str();
  command.add_flag("--exact-size", options.exact_size, "Resize frames to exactly height x width");
  command.add_option("--fps", options.fps, "Frames sampled per second")->capture_default_str();
  // A flag that clears a field: the field's default is true.
  command.add_flag_callback(
      "--no-autorotate", [&options] { options.autorotate = false; },
      "Ignore rotation metadata (reference behaviour)");
  command
      .add_option("--bs", options.bs,
                  "Clips generated together (continuous batching; 0 = 8 on a GPU, 4 on the CPU)")
      ->capture_default_str();
  command
      .add_option("--device", options.device,
                  "cpu, cuda:N, or cuda: the GPU of the launcher's local rank (LOCAL_RANK, ...)")
      ->capture_default_str();
  command
      .add_option("--threads", options.threads,
                  "CPU compute threads (0 = this process's share of the cores)")
      ->capture_default_str();
  command
      .add_option_function<std::string>(
          "--precision",
          [&options](const std::string& name) {
            options.precision =
                name == "f32" ? pipeline::Precision::kF32 : pipeline::Precision::kBf16;
          },
          "bf16 or f32")
      ->check(CLI::IsMember({"bf16", "f32"}))
      ->default_str(pipeline::precision_name(options.precision));
  command
      .add_option("--decode-threads", options.decode_threads,
                  "Clips decoded in parallel ahead of the model (0 = automatic)")
      ->capture_default_str();
}

}  // namespace vcap::cli
