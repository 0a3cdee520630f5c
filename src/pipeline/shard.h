// Shard: which rows this process captions. Row i belongs to rank (i mod world_size): rows are
// dealt round-robin, with no padding and no wrap-around, so every row has exactly one owner and
// the ranks never need to talk to each other.
//
// The rank comes from --rank/--world-size, or else from the launcher's environment. Precedence
// (first complete pair wins): --rank/--world-size; torchrun RANK/WORLD_SIZE; Open MPI
// OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE; MPICH/Intel MPI PMI_RANK/PMI_SIZE; Slurm
// SLURM_PROCID/SLURM_STEP_NUM_TASKS, in an srun step only (a batch script's SLURM_PROCID=0 and
// SLURM_NTASKS describe the allocation, not this process); otherwise rank 0 of 1. A launcher
// that sets only half of its pair,
// a value that is not a number, or a rank outside [0, world) is an error. Pairs from lower
// launchers that disagree with the chosen one are not an error (torchrun under srun sets both
// legitimately); `source` says which one was used.
#ifndef VCAP_PIPELINE_SHARD_H_
#define VCAP_PIPELINE_SHARD_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/status.h"

namespace vcap::pipeline {

struct Shard {
  int rank = 0;
  int world_size = 1;
  std::string source = "default";  // "flags", "torchrun", "openmpi", "pmi", "slurm", "default"

  bool owns(uint64_t row_index) const {
    return row_index % static_cast<uint64_t>(world_size) == static_cast<uint64_t>(rank);
  }
  // Rows [0, total_rows) owned by this rank.
  uint64_t rows_owned(uint64_t total_rows) const {
    const auto world = static_cast<uint64_t>(world_size);
    const auto r = static_cast<uint64_t>(rank);
    return total_rows / world + (r < total_rows % world ? 1 : 0);
  }
};

// Reads one environment variable; nullopt when unset. Injected so tests need no setenv.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The process environment (getenv).
EnvLookup process_environment();

// Resolves the shard as described above.
Result<Shard> resolve_shard(std::optional<int> rank, std::optional<int> world_size,
                            const EnvLookup& env);

// This process's rank among the launcher's processes on its machine, and the variable it came
// from, in the launchers' order above: torchrun LOCAL_RANK, Open MPI
// OMPI_COMM_WORLD_LOCAL_RANK, MPICH/Intel MPI MPI_LOCALRANKID, Slurm SLURM_LOCALID. nullopt
// when none holds a number >= 0.
struct LocalRank {
  int rank = 0;
  std::string variable;
};
std::optional<LocalRank> local_rank(const EnvLookup& env);

// Whether this process is a task srun started (SLURM_STEP_NUM_TASKS is set), not a batch script
// that holds an allocation.
bool in_srun_step(const EnvLookup& env);

// Processes of this job on this machine, from the launcher: LOCAL_WORLD_SIZE (torchrun, and
// vcap's own --devices workers), OMPI_COMM_WORLD_LOCAL_SIZE (Open MPI), MPI_LOCALNRANKS
// (MPICH), SLURM_NTASKS_PER_NODE (Slurm, in an srun step); the first that is a positive number;
// else, in an srun step, its tasks over its nodes (rounded up); else 1.
int local_processes(const EnvLookup& env);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_SHARD_H_
