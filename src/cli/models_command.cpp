// `vcap models`: list the models in the Hugging Face cache, one line per snapshot.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "hub/cache_listing.h"
#include "hub/hub_options.h"
#include "hub/progress_printer.h"

namespace vcap::cli {
namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const std::string& part : parts) joined += (joined.empty() ? "" : ",") + part;
  return joined.empty() ? "-" : joined;
}

// "incomplete (lacks tokenizer.json)" rather than the snapshot's full path again.
std::string snapshot_state(const hub::CachedSnapshot& snapshot) {
  if (snapshot.complete) return "complete";
  const size_t lacks = snapshot.missing.find(" lacks ");
  return "incomplete (" +
         (lacks == std::string::npos ? snapshot.missing : snapshot.missing.substr(lacks + 1)) + ")";
}

void run_models() {
  const hub::HubOptions options = hub::HubOptions::from_environment();
  Result<std::vector<hub::CachedModel>> models = hub::list_cached_models(options.cache_dir);
  if (!models.ok()) throw CommandFailed(models.status(), kExitFailures);
  std::printf("Hugging Face cache: %s\n", options.cache_dir.string().c_str());
  if (models->empty()) {
    std::printf("no models (vcap download ORG/NAME fetches one)\n");
    return;
  }
  std::printf("%-40s %-12s %-10s %10s  %s\n", "MODEL", "REVISIONS", "COMMIT", "SIZE", "STATUS");
  for (const hub::CachedModel& model : *models) {
    const std::string size = hub::format_bytes(model.size_bytes);
    if (model.snapshots.empty()) {
      std::printf("%-40s %-12s %-10s %10s  %s\n", model.repo_id.c_str(), "-", "-", size.c_str(),
                  "no snapshot");
    }
    for (const hub::CachedSnapshot& snapshot : model.snapshots) {
      std::printf("%-40s %-12s %-10s %10s  %s\n", model.repo_id.c_str(),
                  join(snapshot.refs).c_str(), snapshot.commit.substr(0, 8).c_str(), size.c_str(),
                  snapshot_state(snapshot).c_str());
    }
    if (model.partial_bytes > 0) {
      std::printf("%-40s %s of partial downloads (vcap download %s resumes them)\n", "",
                  hub::format_bytes(model.partial_bytes).c_str(), model.repo_id.c_str());
    }
  }
}

}  // namespace

void add_models_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "models",
      "List the models in the Hugging Face cache (HF_HUB_CACHE): revisions, size on disk, and "
      "whether each snapshot has every file vcap needs.");
  command->callback([] { run_models(); });
}

}  // namespace vcap::cli
