#include "pipeline/shard.h"

#include <charconv>
#include <cstdlib>

namespace vcap::pipeline {
namespace {

struct Launcher {
  const char* name;
  const char* rank_variable;
  const char* size_variable;
  const char* local_rank_variable;
  const char* local_size_variable;  // the launcher's processes on this machine
};

constexpr Launcher kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
};

Result<int> parse_int(const char* variable, const std::string& value) {
  int number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || error != std::errc() || end != value.data() + value.size()) {
    return Status::invalid_argument(std::string("environment variable ") + variable + "='" + value +
                                    "' is not an integer");
  }
  return number;
}

Status check_range(const Shard& shard) {
  if (shard.world_size < 1 || shard.rank < 0 || shard.rank >= shard.world_size) {
    return Status::invalid_argument("rank " + std::to_string(shard.rank) + " of world size " +
                                    std::to_string(shard.world_size) + " (from " + shard.source +
                                    ") is out of range");
  }
  return Status();
}

}  // namespace

EnvLookup process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<Shard> resolve_shard(std::optional<int> rank, std::optional<int> world_size,
                            const EnvLookup& env) {
  if (rank.has_value() != world_size.has_value())
    return Status::invalid_argument("--rank and --world-size must be given together");
  if (rank) {
    Shard shard{*rank, *world_size, "flags"};
    if (Status status = check_range(shard); !status.ok()) return status;
    return shard;
  }
  for (const Launcher& launcher : kLaunchers) {
    const std::optional<std::string> rank_value = env(launcher.rank_variable);
    const std::optional<std::string> size_value = env(launcher.size_variable);
    if (!rank_value && !size_value) continue;
    if (!rank_value || !size_value) {
      return Status::invalid_argument(
          std::string(launcher.name) + " environment is incomplete: " +
          (rank_value ? launcher.rank_variable : launcher.size_variable) + " is set but " +
          (rank_value ? launcher.size_variable : launcher.rank_variable) + " is not");
    }
    Result<int> parsed_rank = parse_int(launcher.rank_variable, *rank_value);
    if (!parsed_rank) return parsed_rank.status();
    Result<int> parsed_size = parse_int(launcher.size_variable, *size_value);
    if (!parsed_size) return parsed_size.status();
    Shard shard{*parsed_rank, *parsed_size, launcher.name};
    if (Status status = check_range(shard); !status.ok()) return status;
    return shard;
  }
  return Shard{};
}

std::optional<LocalRank> local_rank(const EnvLookup& env) {
  for (const Launcher& launcher : kLaunchers) {
    const std::optional<std::string> value = env(launcher.local_rank_variable);
    if (!value) continue;
    const Result<int> rank = parse_int(launcher.local_rank_variable, *value);
    if (rank.ok() && *rank >= 0) return LocalRank{*rank, launcher.local_rank_variable};
  }
  return std::nullopt;
}

int local_processes(const EnvLookup& env) {
  for (const Launcher& launcher : kLaunchers) {
    const std::optional<std::string> value = env(launcher.local_size_variable);
    if (!value) continue;
    const Result<int> count = parse_int(launcher.local_size_variable, *value);
    if (count.ok() && *count > 0) return *count;
  }
  return 1;
}

}  // namespace vcap::pipeline
