// `vcap merge META.csv [same options as caption]`: writes the output CSV from the journals of a
// sharded run when every rank has finished (normally the last rank does this by itself; use
// this after a rank was rerun separately, or when the merging rank was killed). Takes the same
// flags as `vcap caption`, so a caption command line can be reused; only the input, --output
// and --world-size matter (the world size is otherwise read from the journal names).
// Exit codes, as `vcap caption`'s: 0 written; 2 when a rank has not finished or the inputs do not
// match; 1 when the integrity check fails or the disk refuses (a full disk: rerun).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "pipeline/caption_run.h"

namespace vcap::cli {

void add_merge_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "merge", "Write the output CSV of a sharded run from its journals (see `vcap caption`)");
  std::shared_ptr<CaptionFlags> flags = add_caption_flags(*command);
  command->callback([flags] {
    Result<pipeline::CaptionOptions> options = merge_options(*flags);
    fail_if_error(options.status());
    Result<pipeline::MergeReport> merged = pipeline::run_merge(*options, stderr);
    if (!merged) throw CommandFailed(merged.status(), exit_code_for(merged.status()));
    uint64_t failures = 0;
    for (const auto& [status, count] : merged->counts) {
      if (!pipeline::has_caption(status)) failures += count;
    }
    std::fprintf(stderr, "vcap: wrote %s: %llu rows; %llu without caption\n",
                 merged->output.c_str(), static_cast<unsigned long long>(merged->rows),
                 static_cast<unsigned long long>(failures));
  });
}

}  // namespace vcap::cli
