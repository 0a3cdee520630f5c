// FakeCaptioner: a deterministic ClipCaptioner for pipeline tests (no media, no model).
//
// A clip's caption is "caption of <path> (fps F, max_pixels P)", so it depends only on the row's
// path and the settings used. A clip takes 1 + (crc32(path) % 4) steps, so with --bs > 1 clips
// finish out of order and new ones join a running batch. Its cost is 1 MiB per frame-megapixel
// (frames = 2 s * fps) times a per-path multiplier, so tests can make a clip too large. Its host
// memory is that much while prepared and half of it while waiting for add(); the captioner
// counts what it holds that way (held_bytes) and the peak.
// Failures and hooks (delays, crashes) are configured per path. plan()/prepare() are
// thread-safe as the interface requires.
#ifndef VCAP_TESTS_PIPELINE_FAKE_CAPTIONER_H_
#define VCAP_TESTS_PIPELINE_FAKE_CAPTIONER_H_

#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/captioner.h"
#include "pipeline/journal.h"

namespace vcap::pipeline::testing {

struct FakeBehaviour {
  std::map<std::string, ClipOutcome> plan_failures;     // by CSV path
  std::map<std::string, ClipOutcome> prepare_failures;  // by CSV path
  std::map<std::string, ClipOutcome> model_failures;    // by CSV path (e.g. oom)
  std::map<std::string, double> cost_multiplier;        // by CSV path (default 1)
  // By CSV path: plan() gives bad_aspect_ratio under this area (a wide clip's short side would
  // round to nothing).
  std::map<std::string, int64_t> smallest_area;
  std::map<std::string, std::string> throw_in_prepare;  // by CSV path: throws this message
  std::map<std::string, std::string> throw_in_add;      // by CSV path: throws this message
  // Called at the start of prepare() (on a decode thread) and after every step.
  std::function<void(const ClipJob&)> on_prepare;
  std::function<void(uint64_t steps_done)> on_step;
  // Called by FakeFactory::create (where the real one loads the model).
  std::function<void()> on_create;
  uint64_t budget_bytes = uint64_t{1} << 40;
};

inline constexpr double kFakeClipSeconds = 2.0;

inline uint64_t fake_cost_bytes(const ClipSettings& settings, double multiplier) {
  const double frames = std::ceil(kFakeClipSeconds * settings.fps);
  const double pixels = settings.exact_height > 0
                            ? double(settings.exact_height) * settings.exact_width
                            : double(settings.max_pixels);
  return static_cast<uint64_t>(frames * pixels / 1e6 * 1048576.0 * multiplier);
}

inline std::string fake_caption(const std::string& path, const ClipSettings& settings) {
  char text[96];
  std::snprintf(text, sizeof(text), " (fps %g, max_pixels %lld)", settings.fps,
                static_cast<long long>(settings.max_pixels));
  return "caption of " + path + text;
}

class FakeCaptioner : public ClipCaptioner {
 public:
  explicit FakeCaptioner(FakeBehaviour behaviour) : behaviour_(std::move(behaviour)) {}

  ClipValue<ClipCost> plan(const ClipJob& job, const ClipSettings& settings) override {
    ++plans_;
    if (auto it = behaviour_.plan_failures.find(job.path); it != behaviour_.plan_failures.end())
      return {it->second, {}};
    if (auto it = behaviour_.smallest_area.find(job.path);
        it != behaviour_.smallest_area.end() && settings.max_pixels < it->second) {
      return {ClipOutcome::failure(ClipStatus::kBadAspectRatio, "too narrow for the area"), {}};
    }
    const auto multiplier = behaviour_.cost_multiplier.find(job.path);
    ClipCost cost;
    cost.frames = static_cast<int64_t>(std::ceil(kFakeClipSeconds * settings.fps));
    cost.visual_tokens = cost.frames / 2 * settings.max_pixels / 784;
    cost.working_bytes = fake_cost_bytes(
        settings, multiplier == behaviour_.cost_multiplier.end() ? 1.0 : multiplier->second);
    cost.prepare_bytes = cost.working_bytes;
    return {ClipOutcome{}, cost};
  }

  ClipValue<std::unique_ptr<PreparedClip>> prepare(const ClipJob& job,
                                                   const ClipSettings& settings) override {
    const uint64_t bytes = cost_of(job.path, settings);
    hold(bytes);
    if (behaviour_.on_prepare) behaviour_.on_prepare(job);
    if (auto it = behaviour_.throw_in_prepare.find(job.path);
        it != behaviour_.throw_in_prepare.end()) {
      drop(bytes);
      throw std::runtime_error(it->second);
    }
    if (auto it = behaviour_.prepare_failures.find(job.path);
        it != behaviour_.prepare_failures.end()) {
      drop(bytes);
      return {it->second, nullptr};
    }
    auto clip = std::make_unique<Prepared>();
    clip->path = job.path;
    clip->settings = settings;
    clip->steps_left = 1 + static_cast<int>(crc32(job.path) % 4);
    clip->bytes = bytes / 2;
    drop(bytes - clip->bytes);
    return {ClipOutcome{}, std::move(clip)};
  }

  void add(uint64_t row_index, std::unique_ptr<PreparedClip> clip) override {
    VCAP_CHECK(dynamic_cast<Prepared*>(clip.get()) != nullptr,
               "FakeCaptioner::add: not a FakeCaptioner clip");
    const auto throws = behaviour_.throw_in_add.find(static_cast<Prepared*>(clip.get())->path);
    if (throws != behaviour_.throw_in_add.end()) throw std::runtime_error(throws->second);
    batch_.push_back(
        {row_index, std::unique_ptr<Prepared>(static_cast<Prepared*>(clip.release()))});
    max_batch_ = std::max(max_batch_, batch_.size());
    uint64_t bytes = 0;
    for (const Active& active : batch_) bytes += cost_of(active.clip->path, active.clip->settings);
    max_batch_bytes_ = std::max(max_batch_bytes_, bytes);
    drop(batch_.back().clip->bytes);
  }

  Result<std::vector<FinishedCaption>> step() override {
    std::vector<FinishedCaption> finished;
    std::vector<Active> still;
    for (Active& active : batch_) {
      if (--active.clip->steps_left > 0) {
        still.push_back(std::move(active));
        continue;
      }
      FinishedCaption caption;
      caption.row_index = active.row_index;
      auto failure = behaviour_.model_failures.find(active.clip->path);
      if (failure != behaviour_.model_failures.end()) {
        caption.outcome = failure->second;
      } else {
        caption.text = fake_caption(active.clip->path, active.clip->settings);
        caption.output_tokens = 1 + static_cast<int64_t>(caption.text.size() / 4);
      }
      finished.push_back(std::move(caption));
    }
    batch_ = std::move(still);
    ++steps_;
    if (behaviour_.on_step) behaviour_.on_step(steps_);
    return finished;
  }

  size_t active() const override { return batch_.size(); }
  uint64_t default_memory_budget_bytes() const override { return behaviour_.budget_bytes; }

  size_t max_batch() const { return max_batch_; }
  uint64_t max_batch_bytes() const { return max_batch_bytes_; }
  uint64_t plans() const { return plans_; }
  // Host bytes of the clips in prepare() or prepared and not added yet: now, and the most.
  uint64_t held_bytes() const {
    const std::lock_guard lock(held_mutex_);
    return held_;
  }
  uint64_t max_held_bytes() const {
    const std::lock_guard lock(held_mutex_);
    return max_held_;
  }

 private:
  struct Prepared : PreparedClip {
    std::string path;
    ClipSettings settings;
    int steps_left = 1;
    uint64_t bytes = 0;
    uint64_t host_bytes() const override { return bytes; }
  };
  struct Active {
    uint64_t row_index;
    std::unique_ptr<Prepared> clip;
  };
  uint64_t cost_of(const std::string& path, const ClipSettings& settings) const {
    const auto multiplier = behaviour_.cost_multiplier.find(path);
    return fake_cost_bytes(
        settings, multiplier == behaviour_.cost_multiplier.end() ? 1.0 : multiplier->second);
  }
  void hold(uint64_t bytes) {
    const std::lock_guard lock(held_mutex_);
    held_ += bytes;
    max_held_ = std::max(max_held_, held_);
  }
  void drop(uint64_t bytes) {
    const std::lock_guard lock(held_mutex_);
    held_ -= bytes;
  }

  const FakeBehaviour behaviour_;
  std::atomic<uint64_t> plans_ = 0;
  std::vector<Active> batch_;
  size_t max_batch_ = 0;
  uint64_t max_batch_bytes_ = 0;
  uint64_t steps_ = 0;
  mutable std::mutex held_mutex_;
  uint64_t held_ = 0;
  uint64_t max_held_ = 0;
};

// A factory handing out FakeCaptioners with a fixed identity; counts create() calls.
class FakeFactory : public CaptionerFactory {
 public:
  explicit FakeFactory(FakeBehaviour behaviour, std::string identity = "fake-model")
      : behaviour_(std::move(behaviour)), identity_(std::move(identity)) {}
  Result<std::string> model_identity() override { return identity_; }
  Result<std::unique_ptr<ClipCaptioner>> create() override {
    ++creates_;
    if (behaviour_.on_create) behaviour_.on_create();
    return std::unique_ptr<ClipCaptioner>(std::make_unique<FakeCaptioner>(behaviour_));
  }
  int creates() const { return creates_; }

 private:
  FakeBehaviour behaviour_;
  std::string identity_;
  int creates_ = 0;
};

}  // namespace vcap::pipeline::testing

#endif  // VCAP_TESTS_PIPELINE_FAKE_CAPTIONER_H_
