// `vcap download MODEL [--revision R]`: fetch a model from the hub into the Hugging Face
// cache (or check that the cached copy is complete and intact) and print its folder.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "hub/model_resolver.h"
#include "hub/progress_printer.h"

namespace vcap::cli {
namespace {

struct DownloadArgs {
  std::string model;
  std::string revision = "main";
};

void run_download(const DownloadArgs& args) {
  hub::HubOptions options = hub::HubOptions::from_environment();
  options.revision = args.revision;
  options.refresh = true;  // ask the hub what the revision names now
  options.progress = hub::make_progress_printer(stderr, ::isatty(::fileno(stderr)) != 0);
  Result<std::filesystem::path> snapshot = hub::resolve_model(args.model, options);
  if (!snapshot.ok()) {
    const StatusCode code = snapshot.status().code();
    const bool bad_input = code == StatusCode::kInvalidArgument || code == StatusCode::kNotFound;
    throw CommandFailed(snapshot.status(), bad_input ? kExitBadInput : kExitFailures);
  }
  std::printf("%s\n", snapshot->string().c_str());
}

}  // namespace

void add_download_command(CLI::App& app) {
  auto args = std::make_shared<DownloadArgs>();
  CLI::App* command = app.add_subcommand(
      "download",
      "Download a model from the Hugging Face hub into its cache (HF_HUB_CACHE) and print the "
      "snapshot folder. Resumes partial downloads; checks every file's checksum.");
  command->add_option("model", args->model, "Hub model id, e.g. Qwen/Qwen2-VL-2B-Instruct")
      ->required();
  command->add_option("--revision", args->revision, "Branch, tag or commit sha")
      ->capture_default_str();
  command->callback([args] { run_download(*args); });
}

}  // namespace vcap::cli
