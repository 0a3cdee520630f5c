#include "pipeline/memory_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "media/sampling.h"
#include "pipeline/caption_options.h"
#include "pipeline/cgroup_files.h"

namespace vcap::pipeline {
namespace {

constexpr double kFitPixelStep = 0.7;
constexpr double kMinFps = 0.125;

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

// Sides scaled by sqrt(factor), rounded down to multiples of 28, at least 28.
int shrink_side(int side, double factor) {
  const auto unit = static_cast<int>(media::kImageFactor);
  const int scaled = static_cast<int>(std::floor(side * std::sqrt(factor) / unit)) * unit;
  return scaled < unit ? unit : scaled;
}

}  // namespace

Result<uint64_t> read_mem_available_bytes(const std::filesystem::path& meminfo) {
  std::ifstream in(meminfo);
  if (!in) return Status::not_found(meminfo.string() + ": cannot read the free memory");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return Status::not_found(meminfo.string() + ": no MemAvailable line");
}

namespace {

// `key`'s value in a memory.stat ("<key> <bytes>" lines); 0 when absent.
uint64_t stat_value(const std::string& stat, const std::string& key) {
  std::istringstream lines(stat);
  std::string name;
  uint64_t value = 0;
  while (lines >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

}  // namespace

std::optional<uint64_t> cgroup_memory_left(const std::string& limit, const std::string& usage,
                                           const std::string& stat) {
  const std::optional<int64_t> cap = parse_cgroup_number(limit);  // "max": nullopt
  const std::optional<int64_t> used = parse_cgroup_number(usage);
  constexpr int64_t kNoLimit = int64_t{1} << 60;  // v1's default is 2^63 rounded to pages
  if (!cap || !used || *cap < 0 || *used < 0 || *cap >= kNoLimit) return std::nullopt;
  const uint64_t cache =
      std::max(stat_value(stat, "inactive_file"), stat_value(stat, "total_inactive_file"));
  const auto limit_bytes = static_cast<uint64_t>(*cap);
  const auto used_bytes = static_cast<uint64_t>(*used);
  const uint64_t in_use = used_bytes > cache ? used_bytes - cache : 0;
  return limit_bytes > in_use ? limit_bytes - in_use : 0;
}

Result<uint64_t> read_host_available_bytes() {
  Result<uint64_t> available = read_mem_available_bytes();
  if (!available) return available;
  const std::filesystem::path v2 = "/sys/fs/cgroup";
  const std::filesystem::path v1 = "/sys/fs/cgroup/memory";
  std::optional<uint64_t> left =
      cgroup_memory_left(read_small_file(v2 / "memory.max"), read_small_file(v2 / "memory.current"),
                         read_small_file(v2 / "memory.stat"));
  if (!left) {
    left = cgroup_memory_left(read_small_file(v1 / "memory.limit_in_bytes"),
                              read_small_file(v1 / "memory.usage_in_bytes"),
                              read_small_file(v1 / "memory.stat"));
  }
  return left ? std::min(*available, *left) : *available;
}

uint64_t default_budget_bytes(uint64_t available_bytes, uint64_t weights_bytes) {
  const auto share = static_cast<uint64_t>(static_cast<double>(available_bytes) * 0.8);
  return share > weights_bytes ? share - weights_bytes : 0;
}

uint64_t default_prefetch_bytes(uint64_t available_bytes, uint64_t host_budget_bytes,
                                int processes) {
  const uint64_t left =
      available_bytes > host_budget_bytes ? available_bytes - host_budget_bytes : 0;
  return left / 2 / static_cast<uint64_t>(std::max(1, processes));
}

std::vector<ClipSettings> fit_candidates(const ClipSettings& requested) {
  std::vector<ClipSettings> candidates;
  ClipSettings current = requested;
  while (current.fps > 1.0) {
    current.fps = std::max(1.0, current.fps / 2);
    candidates.push_back(current);
  }
  if (current.exact_height > 0) {
    const auto min_side = static_cast<int>(media::kImageFactor);
    while (current.exact_height > min_side || current.exact_width > min_side) {
      current.exact_height = shrink_side(current.exact_height, kFitPixelStep);
      current.exact_width = shrink_side(current.exact_width, kFitPixelStep);
      candidates.push_back(current);
    }
  } else {
    while (current.max_pixels > media::kVideoMinPixels) {
      current.max_pixels = std::max<int64_t>(
          media::kVideoMinPixels,
          static_cast<int64_t>(static_cast<double>(current.max_pixels) * kFitPixelStep));
      candidates.push_back(current);
    }
  }
  while (current.fps > kMinFps) {
    current.fps = std::max(kMinFps, current.fps / 2);
    candidates.push_back(current);
  }
  return candidates;
}

std::string describe_fit(const ClipSettings& used, const ClipSettings& requested,
                         uint64_t budget_bytes) {
  std::string text = "fitted to the " + format_bytes(budget_bytes) + " budget: fps " +
                     number(used.fps) + " (asked " + number(requested.fps) + ")";
  if (requested.exact_height > 0) {
    text += ", size " + std::to_string(used.exact_height) + "x" + std::to_string(used.exact_width) +
            " (asked " + std::to_string(requested.exact_height) + "x" +
            std::to_string(requested.exact_width) + ")";
  } else {
    text += ", max_pixels " + std::to_string(used.max_pixels) + " (asked " +
            std::to_string(requested.max_pixels) + ")";
  }
  return text;
}

std::string describe_too_large(const ClipCost& cost, uint64_t budget_bytes, bool tried_fit) {
  std::string text = "needs " + format_bytes(cost.working_bytes) + " (" +
                     std::to_string(cost.frames) + " frames, " +
                     std::to_string(cost.visual_tokens) + " visual tokens), over the " +
                     format_bytes(budget_bytes) + " budget";
  text += tried_fit ? " even at the smallest --fit settings"
                    : "; lower --fps/--height/--width, raise --max-memory or pass --fit";
  return text;
}

}  // namespace vcap::pipeline
