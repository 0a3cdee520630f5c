// How a run spreads the host's cores over video decoding.
//
// On a GPU the model needs almost no CPU: the cores are there to decode clips fast enough to
// keep the GPU busy, and several clips are decoded at once. FFmpeg left to choose runs up to 16
// frame threads per clip, which on top of several clips per process and one process per GPU
// puts hundreds of threads on the cores: each extra frame thread costs CPU time (a 10 s 720p
// H.264 clip on 16 threads takes 17% more CPU time than on one, bench/results/
// decode_2026-11-27_skip.md), and the CPU time is what runs out first. So a GPU run gives each
// of its processes an equal share of the cores, and splits the share between the clips it
// decodes at once. A CPU run keeps FFmpeg's choice: there the model's threads take the cores,
// and decoding is a small part of the time.
#ifndef VCAP_PIPELINE_DECODE_SHARE_H_
#define VCAP_PIPELINE_DECODE_SHARE_H_

#include <optional>
#include <string>

#include "pipeline/caption_options.h"
#include "pipeline/shard.h"

namespace vcap::pipeline {

struct DecodeShare {
  int clips = 1;             // clips decoded at once (--decode-threads)
  int threads_per_clip = 0;  // FFmpeg decoder threads per clip; 0 lets FFmpeg choose
};

// Set by a --devices parent for its workers: how many of them inherited its CPU mask.
inline constexpr const char* kMaskSharersVariable = "VCAP_MASK_SHARERS";

// The CPUs this process may use.
struct HostCpus {
  int machine = 1;           // std::thread::hardware_concurrency()
  int affinity = 1;          // its affinity mask: what taskset, srun's CPU binding or a
                             // container's cpuset leave it (machine when unreadable)
  std::optional<int> quota;  // its cgroup's CPU quota, shared by every process of the
                             // container (Docker --cpus, Kubernetes limits); nullopt: none
  int mask_sharers = 1;      // processes that inherited one mask: the --devices workers of one
                             // parent (VCAP_MASK_SHARERS, set by that parent)
};
HostCpus host_cpus();

// The CPUs a cgroup quota allows, rounded up: from cgroup v2's cpu.max ("<quota> <period>",
// quota "max" when unlimited) or v1's cpu.cfs_quota_us and cpu.cfs_period_us (quota -1 when
// unlimited). nullopt when unlimited or unreadable.
std::optional<int> cpu_quota_cores(const std::string& v2_cpu_max);
std::optional<int> cpu_quota_cores(const std::string& v1_quota_us, const std::string& v1_period_us);

// A process's share of the cores, with `processes` of its job on the machine: its affinity
// mask when that is smaller than the machine (a launcher bound it to its own cores), else the
// machine / `processes`; and no more than quota / `processes`. At least 1.
int core_share(const HostCpus& cpus, int processes);

// GPU runs decode min(8, max(2, share / 2)) clips at once unless --decode-threads says, each on
// core_share / clips threads (at least 1). CPU runs, whose model takes the share (the default
// of --threads): 2 clips at once from a share of 4 cores up, else 1, threads chosen by FFmpeg.
DecodeShare decode_share(const CaptionOptions& options, const HostCpus& cpus, int processes);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_DECODE_SHARE_H_
