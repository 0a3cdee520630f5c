#include "pipeline/memory_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "media/sampling.h"
#include "pipeline/caption_options.h"

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
