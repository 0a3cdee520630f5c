// vcap: caption video datasets with Qwen2-VL. See README.md.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"vcap: caption video clips with Qwen2-VL", "vcap"};
  app.require_subcommand(1);
  // As the seed's argparse: an option given twice takes its last value (a wrapper's default,
  // then the user's own).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
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

  // CLI11 reports a mistyped command as "A subcommand is required": name it and the commands.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string commands;
    for (CLI::App* command : app.get_subcommands({})) {
      known = known || command->check_name(argv[1]);
      commands += (commands.empty() ? "" : ", ") + command->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "vcap: unknown command '%s' (commands: %s)\n", argv[1],
                   commands.c_str());
      return vcap::cli::kExitBadInput;
    }
  }
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
