#include "pipeline/decode_share.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <thread>

namespace vcap::pipeline {

int machine_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return machine_cores();
}

int local_processes(const EnvLookup& env) {
  for (const char* name : {"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "SLURM_NTASKS_PER_NODE"}) {
    const std::optional<std::string> value = env(name);
    if (!value) continue;
    int count = 0;
    const char* end = value->data() + value->size();
    const auto [ptr, error] = std::from_chars(value->data(), end, count);
    if (error == std::errc() && ptr == end && count > 0) return count;
  }
  return 1;
}

DecodeShare decode_share(const CaptionOptions& options, int cores, int machine, int processes) {
  cores = std::max(1, cores);
  DecodeShare share;
  if (options.device == "cpu") {
    share.clips = options.decode_threads > 0 ? options.decode_threads : (cores >= 4 ? 2 : 1);
    return share;
  }
  const int mine = cores < machine ? cores : std::max(1, cores / std::max(1, processes));
  share.clips = options.decode_threads > 0 ? options.decode_threads : std::clamp(mine / 2, 2, 8);
  share.threads_per_clip = std::max(1, mine / share.clips);
  return share;
}

}  // namespace vcap::pipeline
