// The files a cgroup mounts at /sys/fs/cgroup (cpu.max, memory.max, memory.stat, ...): read by
// the CPU share (decode_share.h) and the memory budget (memory_budget.h) of a process in a
// container.
#ifndef VCAP_PIPELINE_CGROUP_FILES_H_
#define VCAP_PIPELINE_CGROUP_FILES_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace vcap::pipeline {

// `text` as a decimal integer, without its line end; nullopt for anything else ("max").
std::optional<int64_t> parse_cgroup_number(std::string_view text);

// The whole text of a small file (a cgroup file; a lock file's holder, file_sync.h); empty when
// it is absent or unreadable.
std::string read_small_file(const std::filesystem::path& path);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_CGROUP_FILES_H_
