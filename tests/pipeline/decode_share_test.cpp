#include "pipeline/decode_share.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "pipeline/caption_run.h"

namespace vcap::pipeline {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    const auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

HostCpus cpus(int affinity, int machine, std::optional<int> quota = std::nullopt) {
  return HostCpus{machine, affinity, quota};
}

CaptionOptions on(const std::string& device, int decode_threads = 0) {
  CaptionOptions options;
  options.device = device;
  options.decode_threads = decode_threads;
  return options;
}

TEST(DecodeShare, OneGpuProcessSplitsTheMachineBetweenItsClips) {
  const DecodeShare share = decode_share(on("cuda:0"), cpus(16, 16), 1);
  EXPECT_EQ(share.clips, 8);
  EXPECT_EQ(share.threads_per_clip, 2);
  const DecodeShare big = decode_share(on("cuda:0"), cpus(128, 128), 1);
  EXPECT_EQ(big.clips, 8);
  EXPECT_EQ(big.threads_per_clip, 16);
}

TEST(DecodeShare, GpuProcessesOfOneMachineShareItsCores) {
  const DecodeShare share = decode_share(on("cuda:3"), cpus(128, 128), 8);  // 16 cores each
  EXPECT_EQ(share.clips, 8);
  EXPECT_EQ(share.threads_per_clip, 2);
  const DecodeShare tight = decode_share(on("cuda:3"), cpus(32, 32), 8);  // 4 cores each
  EXPECT_EQ(tight.clips, 2);
  EXPECT_EQ(tight.threads_per_clip, 2);
  const DecodeShare starved = decode_share(on("cuda:3"), cpus(8, 8), 8);  // 1 core each
  EXPECT_EQ(starved.clips, 2);
  EXPECT_EQ(starved.threads_per_clip, 1);
}

TEST(DecodeShare, AProcessBoundToItsOwnCoresIsNotDividedAgain) {
  // srun --cpus-per-task=12 on a 96-core machine with 8 tasks: the mask already is the share.
  const DecodeShare share = decode_share(on("cuda:0"), cpus(12, 96), 8);
  EXPECT_EQ(share.clips, 6);
  EXPECT_EQ(share.threads_per_clip, 2);
}

TEST(DecodeShare, DecodeThreadsFlagSetsTheClipsAndTheShareTheirThreads) {
  const DecodeShare share = decode_share(on("cuda:0", 3), cpus(16, 16), 1);
  EXPECT_EQ(share.clips, 3);
  EXPECT_EQ(share.threads_per_clip, 5);
  const DecodeShare many = decode_share(on("cuda:0", 40), cpus(16, 16), 1);
  EXPECT_EQ(many.clips, 40);
  EXPECT_EQ(many.threads_per_clip, 1);
}

TEST(DecodeShare, CpuRunsLeaveTheThreadsToFfmpeg) {
  EXPECT_EQ(decode_share(on("cpu"), cpus(16, 16), 1).clips, 2);
  EXPECT_EQ(decode_share(on("cpu"), cpus(2, 2), 1).clips, 1);
  EXPECT_EQ(decode_share(on("cpu"), cpus(16, 16), 1).threads_per_clip, 0);
  EXPECT_EQ(decode_share(on("cpu", 5), cpus(16, 16), 4).clips, 5);
}

TEST(CoreShare, IsTheProcessesPartOfTheMachineItsMaskOrItsQuota) {
  EXPECT_EQ(core_share(cpus(64, 64), 1), 64);
  EXPECT_EQ(core_share(cpus(64, 64), 4), 16);    // 4 CPU processes, none bound: 16 each
  EXPECT_EQ(core_share(cpus(16, 64), 4), 16);    // bound to their own 16 by the launcher
  // --devices 0,1,2,3 under taskset -c 0-31: the four workers share the mask they inherited.
  HostCpus inherited = cpus(32, 64);
  inherited.mask_sharers = 4;
  EXPECT_EQ(core_share(inherited, 4), 8);
  EXPECT_EQ(core_share(cpus(64, 64, 8), 1), 8);  // docker --cpus 8 on a 64-core machine
  EXPECT_EQ(core_share(cpus(64, 64, 8), 2), 4);
  EXPECT_EQ(core_share(cpus(4, 4), 16), 1);                      // never none
  EXPECT_EQ(decode_share(on("cpu"), cpus(16, 16), 8).clips, 1);  // 2 cores each: one clip
}

TEST(LocalProcesses, ReadsTheFirstLauncherThatSetsAPositiveCount) {
  EXPECT_EQ(local_processes(fake_env({})), 1);
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", "4"}})), 4);
  EXPECT_EQ(local_processes(fake_env({{"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}})), 8);
  EXPECT_EQ(local_processes(fake_env({{"MPI_LOCALNRANKS", "2"}})), 2);
  EXPECT_EQ(
      local_processes(fake_env({{"SLURM_NTASKS_PER_NODE", "6"}, {"SLURM_STEP_NUM_TASKS", "12"}})),
      6);
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", "3"},
                                      {"SLURM_NTASKS_PER_NODE", "6"},
                                      {"SLURM_STEP_NUM_TASKS", "12"}})),
            3);
  // Not a positive number: the next launcher, else 1.
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", "0"}, {"MPI_LOCALNRANKS", "2"}})), 2);
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", "4x"}})), 1);
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", "-2"}})), 1);
  EXPECT_EQ(local_processes(fake_env({{"LOCAL_WORLD_SIZE", ""}})), 1);
}

TEST(DecodeShare, ReachesTheEngineAndEveryClipsDecodeSettings) {
  const EngineConfig config = engine_config(on("cuda:0"), 1 << 30, DecodeShare{5, 3}, UINT64_MAX);
  EXPECT_EQ(config.decode_threads, 5);
  EXPECT_EQ(config.settings.threads_per_clip, 3);
}

TEST(CpuQuota, ReadsCgroupV2CpuMax) {
  EXPECT_EQ(cpu_quota_cores("1600000 100000\n"), 16);
  EXPECT_EQ(cpu_quota_cores("150000 100000"), 2);  // 1.5 CPUs: rounded up
  EXPECT_EQ(cpu_quota_cores("50000 100000"), 1);
  EXPECT_EQ(cpu_quota_cores("max 100000"), std::nullopt);
  EXPECT_EQ(cpu_quota_cores(""), std::nullopt);  // no such file
  EXPECT_EQ(cpu_quota_cores("1600000"), std::nullopt);
  EXPECT_EQ(cpu_quota_cores("16x 100000"), std::nullopt);
  EXPECT_EQ(cpu_quota_cores("0 100000"), std::nullopt);
}

TEST(CpuQuota, ReadsCgroupV1CfsFiles) {
  EXPECT_EQ(cpu_quota_cores("800000\n", "100000\n"), 8);
  EXPECT_EQ(cpu_quota_cores("-1", "100000"), std::nullopt);
  EXPECT_EQ(cpu_quota_cores("", ""), std::nullopt);
  EXPECT_EQ(cpu_quota_cores("800000", "0"), std::nullopt);
}

TEST(DecodeShare, AContainersQuotaIsSharedByItsProcesses) {
  // 8 GPU processes in a pod limited to 64 CPUs of a 128-core machine: 8 each.
  const DecodeShare share = decode_share(on("cuda:0"), cpus(128, 128, 64), 8);
  EXPECT_EQ(share.clips, 4);
  EXPECT_EQ(share.threads_per_clip, 2);
  // One process, a quota of 6 CPUs.
  const DecodeShare one = decode_share(on("cuda:0"), cpus(128, 128, 6), 1);
  EXPECT_EQ(one.clips, 3);
  EXPECT_EQ(one.threads_per_clip, 2);
  // On the CPU the quota counts too: 2 CPUs decode one clip at a time.
  EXPECT_EQ(decode_share(on("cpu"), cpus(16, 16, 2), 1).clips, 1);
}

TEST(HostCpus, AreWithinTheMachine) {
  const HostCpus host = host_cpus();
  EXPECT_EQ(host.machine, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_GE(host.affinity, 1);
  EXPECT_LE(host.affinity, host.machine);
  EXPECT_GE(host.quota.value_or(1), 1);
}

}  // namespace
}  // namespace vcap::pipeline
