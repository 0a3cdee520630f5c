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
  // When set, the launcher's variables count only where this one is set too: a Slurm batch
  // script (sbatch without srun) has SLURM_PROCID=0, and SLURM_NTASKS, SLURM_LOCALID and
  // SLURM_NTASKS_PER_NODE of the whole allocation, yet it is one process; srun's tasks have
  // the step's variables.
  const char* launched_variable = nullptr;
};

constexpr const char* kSlurmStepTasks = "SLURM_STEP_NUM_TASKS";

constexpr Launcher kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"slurm", "SLURM_PROCID", kSlurmStepTasks, "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE",
     kSlurmStepTasks},
};

bool launched_by(const Launcher& launcher, const EnvLookup& env) {
  return launcher.launched_variable == nullptr || env(launcher.launched_variable).has_value();
}

Result<int> parse_int(const char* variable, const std::string& value) {
  int number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || error != std::errc() || end != value.data() + value.size()) {
    return Status::invalid_argument(std::string("environment variable ") + variable + "='" + value +
                                    "' is not an integer");
  }
  return number;
}

struct LauncherNumber {
  int value;
  const char* variable;
};

// The first of the launchers' `variable`s (in kLaunchers' order) that holds an integer >=
// `minimum`, and its name; values that are not such a number are passed over.
std::optional<LauncherNumber> first_launcher_number(const EnvLookup& env,
                                                    const char* Launcher::*variable, int minimum) {
  for (const Launcher& launcher : kLaunchers) {
    if (!launched_by(launcher, env)) continue;
    const char* name = launcher.*variable;
    const std::optional<std::string> value = env(name);
    if (!value) continue;
    const Result<int> number = parse_int(name, *value);
    if (number.ok() && *number >= minimum) return LauncherNumber{*number, name};
  }
  return std::nullopt;
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
    if (!launched_by(launcher, env)) continue;
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

bool in_srun_step(const EnvLookup& env) { return env(kSlurmStepTasks).has_value(); }

std::optional<LocalRank> local_rank(const EnvLookup& env) {
  const std::optional<LauncherNumber> rank =
      first_launcher_number(env, &Launcher::local_rank_variable, 0);
  if (!rank) return std::nullopt;
  return LocalRank{rank->value, rank->variable};
}

int local_processes(const EnvLookup& env) {
  const std::optional<LauncherNumber> count =
      first_launcher_number(env, &Launcher::local_size_variable, 1);
  if (count) return count->value;
  // srun without --ntasks-per-node spreads its tasks over its nodes as evenly as it can.
  const std::optional<std::string> tasks = env(kSlurmStepTasks);
  const std::optional<std::string> nodes = env("SLURM_STEP_NUM_NODES");
  if (tasks && nodes) {
    const Result<int> t = parse_int(kSlurmStepTasks, *tasks);
    const Result<int> n = parse_int("SLURM_STEP_NUM_NODES", *nodes);
    if (t.ok() && n.ok() && *t >= 1 && *n >= 1) return (*t + *n - 1) / *n;
  }
  return 1;
}

}  // namespace vcap::pipeline
