#include "pipeline/decode_share.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <thread>

#include "pipeline/cgroup_files.h"

namespace vcap::pipeline {

namespace {

std::optional<int> quota_over_period(std::optional<int64_t> quota, std::optional<int64_t> period) {
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<int>(std::max<int64_t>(1, (*quota + *period - 1) / *period));
}

}  // namespace

std::optional<int> cpu_quota_cores(const std::string& v2_cpu_max) {
  const size_t space = v2_cpu_max.find(' ');
  if (space == std::string::npos) return std::nullopt;
  return quota_over_period(parse_cgroup_number(std::string_view(v2_cpu_max).substr(0, space)),
                           parse_cgroup_number(std::string_view(v2_cpu_max).substr(space + 1)));
}

std::optional<int> cpu_quota_cores(const std::string& v1_quota_us,
                                   const std::string& v1_period_us) {
  return quota_over_period(parse_cgroup_number(v1_quota_us), parse_cgroup_number(v1_period_us));
}

HostCpus host_cpus() {
  HostCpus cpus;
  cpus.machine = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpus.affinity = cpus.machine;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus.affinity = std::max(1, CPU_COUNT(&set));
  if (const char* sharers = std::getenv(kMaskSharersVariable)) {
    const std::optional<int64_t> count = parse_cgroup_number(sharers);
    if (count && *count > 1 && *count <= 4096) cpus.mask_sharers = static_cast<int>(*count);
  }
  // Inside a container its cgroup's files are mounted at /sys/fs/cgroup; on a host these are
  // the root cgroup's, which has no quota.
  cpus.quota = cpu_quota_cores(read_small_file("/sys/fs/cgroup/cpu.max"));
  if (!cpus.quota) {
    cpus.quota = cpu_quota_cores(read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                                 read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  return cpus;
}

int core_share(const HostCpus& cpus, int processes) {
  processes = std::max(1, processes);
  // A mask smaller than the machine is this process's own (srun --cpu-bind); a quota belongs
  // to the whole container. Guessing a mask to be shared would starve the process, guessing it
  // to be one's own at worst oversubscribes the cores as the defaults of FFmpeg and OpenMP do.
  int mine = cpus.affinity < cpus.machine ? cpus.affinity / std::max(1, cpus.mask_sharers)
                                          : cpus.machine / processes;
  if (cpus.quota) mine = std::min(mine, *cpus.quota / processes);
  return std::max(1, mine);
}

DecodeShare decode_share(const CaptionOptions& options, const HostCpus& cpus, int processes) {
  DecodeShare share;
  const int mine = core_share(cpus, processes);
  if (options.device == "cpu") {
    share.clips = options.decode_threads > 0 ? options.decode_threads : (mine >= 4 ? 2 : 1);
    return share;
  }
  share.clips = options.decode_threads > 0 ? options.decode_threads : std::clamp(mine / 2, 2, 8);
  share.threads_per_clip = std::max(1, mine / share.clips);
  return share;
}

}  // namespace vcap::pipeline
