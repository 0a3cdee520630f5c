// vcap: caption video datasets with Qwen2-VL. See README.md.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"vcap: caption video clips with Qwen2-VL", "vcap"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vcap 0.1.0");
  // Each subcommand registers itself here (see cli/commands.h).
  vcap::cli::add_download_command(app);
  vcap::cli::add_models_command(app);
  vcap::cli::add_tokenize_command(app);
  vcap::cli::add_make_test_model_command(app);
  vcap::cli::add_caption_command(app);
  vcap::cli::add_merge_command(app);
  vcap::cli::add_status_command(app);
  vcap::cli::add_inspect_command(app);
  vcap::cli::add_bench_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : vcap::cli::kExitBadInput;
  } catch (const vcap::cli::CommandFailed& e) {
    std::fprintf(stderr, "vcap: %s\n", e.what());
    return e.exit_code;
  }
  return 0;
}
