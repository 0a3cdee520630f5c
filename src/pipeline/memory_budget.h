// Memory budget: how much working memory (activations + KV cache, from the model's estimate)
// the clips in flight may use, and how --fit shrinks a clip that does not fit.
//
// A clip whose own cost is over the budget is never started: with --fit its settings are lowered
// step by step (fit_candidates) until one fits, otherwise it gets status too_large. With --bs > 1
// a clip joins the running batch only while the batch's total stays within the budget.
#ifndef VCAP_PIPELINE_MEMORY_BUDGET_H_
#define VCAP_PIPELINE_MEMORY_BUDGET_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/captioner.h"

namespace vcap::pipeline {

// The machine's free memory: MemAvailable from /proc/meminfo (or another file in tests).
Result<uint64_t> read_mem_available_bytes(const std::filesystem::path& meminfo = "/proc/meminfo");

// What a cgroup's memory limit leaves: limit - usage + the reclaimable file cache in usage
// (inactive_file), from the contents of cgroup v2's memory.max, memory.current and memory.stat,
// or v1's memory.limit_in_bytes, memory.usage_in_bytes and memory.stat (total_inactive_file).
// nullopt without a limit ("max", v1's huge default) or for values that do not read.
std::optional<uint64_t> cgroup_memory_left(const std::string& limit, const std::string& usage,
                                           const std::string& stat);

// The free memory this process may use: MemAvailable, or less where its container's memory
// limit (docker --memory, a Kubernetes limit) leaves less; the cgroup files are those mounted
// at /sys/fs/cgroup (a container's own; on a host the root's, which has no limit).
Result<uint64_t> read_host_available_bytes();

// The default budget: 80% of `available_bytes` (the machine's MemAvailable, or a GPU's free
// memory) minus `weights_bytes` that are not resident yet (mapped weights count once touched),
// never below zero.
uint64_t default_budget_bytes(uint64_t available_bytes, uint64_t weights_bytes);

// The default bound on the host memory of the clips decoded ahead of the model (EngineConfig::
// prefetch_bytes): half of the host's `available_bytes` that the working budgets do not take
// (`host_budget_bytes`: those of all the job's processes on a CPU machine, 0 on a GPU, whose
// budget is its own memory), shared by the `processes` of this job on the machine.
uint64_t default_prefetch_bytes(uint64_t available_bytes, uint64_t host_budget_bytes,
                                int processes);

// The settings --fit tries, in order, after `requested` did not fit: first halve fps down to
// 1 frame per second (the video stays covered end to end), then shrink the pixel cap by 30% per
// step down to the 128*28*28 video minimum (or, in exact-size mode, both sides), then halve fps
// down to 1/8. Each candidate is smaller than the one before. Empty when nothing is smaller.
std::vector<ClipSettings> fit_candidates(const ClipSettings& requested);

// "fitted to the 8.0 GiB budget: fps 2 (asked 4), max_pixels 150528 (asked 301056)"
std::string describe_fit(const ClipSettings& used, const ClipSettings& requested,
                         uint64_t budget_bytes);

// The one-line reason for too_large.
std::string describe_too_large(const ClipCost& cost, uint64_t budget_bytes, bool tried_fit);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_MEMORY_BUDGET_H_
