// `vcap status META.csv [same options as caption] [--json]`: where a caption run stands, read from
// its journals and output (pipeline/run_status.h): rows done per rank, failures, which ranks are
// captioning, stopped or finished. Takes the flags of `vcap caption`, so a caption command line
// can be reused; only the input, --output and --world-size matter. Exit codes: 0 with the report
// on stdout; 2 for a missing input or unreadable journals.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "pipeline/caption_options.h"
#include "pipeline/run_status.h"

namespace vcap::cli {

void add_status_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "status", "Show where a caption run stands: rows done per rank, failures (see README)");
  std::shared_ptr<CaptionFlags> flags = add_caption_flags(*command);
  auto json = std::make_shared<bool>(false);
  command->add_flag("--json", *json, "Print one JSON object instead of the table");
  command->callback([flags, json] {
    Result<pipeline::CaptionOptions> options = merge_options(*flags);
    fail_if_error(options.status());
    Result<pipeline::RunStatus> status = pipeline::read_run_status(
        options->meta_path, pipeline::output_path(*options), options->world_size);
    fail_if_error(status.status());
    const std::string report =
        *json ? pipeline::run_status_json(*status) : pipeline::format_run_status(*status);
    std::fputs(report.c_str(), stdout);
  });
}

}  // namespace vcap::cli
