#include "media/clip.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

#include "media/frame_sampler.h"
#include "media/video_pass.h"

namespace vcap::media {
namespace {

using detail::FrameSampler;
using detail::FrameSkipper;
using detail::FrameStore;
using detail::PacketTimeline;
using detail::PassSettings;
using detail::PassSummary;
using detail::StreamInfo;
using detail::VideoPass;

// "media: <reason>" from the pure functions becomes "media: <path>: <reason>".
ClipError with_path(const ClipError& error, const std::string& path) {
  const std::string prefix = "media: ";
  std::string reason = error.message();
  if (reason.rfind(prefix, 0) == 0) reason.erase(0, prefix.size());
  return ClipError(error.kind(), prefix + path + ": " + reason);
}

std::optional<ClipError> validate(const DecodeOptions& options, const std::string& path) {
  auto bad = [&](const std::string& reason) {
    return ClipError(ClipErrorKind::kInvalidOptions, "media: " + path + ": " + reason);
  };
  if (!(std::isfinite(options.fps) && options.fps > 0)) return bad("fps must be positive");
  if (options.min_pixels <= 0 || options.max_pixels <= 0) {
    return bad("min_pixels and max_pixels must be positive");
  }
  if (options.resize_mode == ResizeMode::kExact &&
      (options.exact_height <= 0 || options.exact_width <= 0)) {
    return bad("the exact height and width must be positive");
  }
  if (options.threads < 0) return bad("threads must be >= 0");
  if (!(options.deadline_sec >= 0)) return bad("the decode deadline must be >= 0 seconds");
  return std::nullopt;
}

PassSettings pass_settings(const DecodeOptions& options) {
  const auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::min(options.deadline_sec, 1e9)));
  return PassSettings{options.threads, std::chrono::steady_clock::now() + budget};
}

// spec §6.3–§6.5 on counted frames; `decoded` is the frame size before rotation.
ClipResult<ClipPlan> make_plan(int64_t total_frames, double video_fps, FrameSize decoded,
                               int rotation_cw, const DecodeOptions& options) {
  ClipPlan plan;
  plan.total_frames = total_frames;
  plan.video_fps = video_fps;
  plan.rotation = options.autorotate ? rotation_cw : 0;
  const bool quarter = plan.rotation == 90 || plan.rotation == 270;
  plan.orig_height = quarter ? decoded.width : decoded.height;
  plan.orig_width = quarter ? decoded.height : decoded.width;
  ClipResult<int64_t> nframes = smart_nframes(total_frames, video_fps, options.fps);
  if (!nframes.ok()) return nframes.error();
  plan.nframes = *nframes;
  plan.frame_indices = frame_indices(total_frames, plan.nframes);
  ClipResult<FrameSize> size =
      options.resize_mode == ResizeMode::kExact
          ? smart_resize(options.exact_height, options.exact_width, kImageFactor,
                         kImageMinPixels, kImageMaxPixels)
          : smart_resize(plan.orig_height, plan.orig_width, kImageFactor, options.min_pixels,
                         options.max_pixels);
  if (!size.ok()) return size.error();
  plan.resized_height = size->height;
  plan.resized_width = size->width;
  return plan;
}

std::string ffmpeg_note(const PassSummary& summary) {
  return summary.last_error.empty() ? "" : " (FFmpeg: " + summary.last_error + ")";
}

// The exact plan once a decoding pass has counted the frames.
ClipResult<ClipPlan> plan_from_pass(const PassSummary& summary, const StreamInfo& info,
                                    FrameSize first_frame, const DecodeOptions& options,
                                    const std::string& path) {
  const std::string where = "media: " + path + ": ";
  const std::string declared =
      info.declared_frames > 0 ? " of " + std::to_string(info.declared_frames) + " declared" : "";
  if (summary.frames == 0) {
    if (summary.truncated) {
      return ClipError(ClipErrorKind::kTruncated, where + "truncated, no frame decodable: " +
                                                      summary.truncation + ffmpeg_note(summary));
    }
    return ClipError(ClipErrorKind::kDecodeError,
                     where + "no frame decodes (" + std::to_string(summary.packets) +
                         " video packets, codec " + info.codec_name + ")" + ffmpeg_note(summary));
  }
  if (summary.truncated && !options.accept_truncated) {
    return ClipError(ClipErrorKind::kTruncated,
                     where + "truncated: " + summary.truncation + "; " +
                         std::to_string(summary.frames) + " frame(s) decodable" + declared +
                         ffmpeg_note(summary));
  }
  ClipResult<ClipPlan> plan =
      make_plan(summary.frames, info.fps, first_frame, info.rotation_cw, options);
  if (!plan.ok()) return with_path(plan.error(), path);
  plan->truncated = summary.truncated;
  plan->truncation = summary.truncation;
  return plan;
}

struct PassResult {
  PassSummary summary;
  StreamInfo info;
  FrameSize first_frame;
};

// One decoding pass that keeps the `wanted` frames in `store` (skipping what `skipper` allows).
ClipResult<PassResult> run_pass(const std::string& path, const PassSettings& settings,
                                const std::vector<int64_t>& wanted, bool stop_after_last,
                                const DecodeOptions& options, FrameStore& store,
                                FrameSkipper* skipper = nullptr) {
  ClipResult<VideoPass> pass = VideoPass::open(path, settings);
  if (!pass.ok()) return pass.error();
  FrameSampler sampler(wanted, options.keep_selected_frames, stop_after_last, store);
  ClipResult<PassSummary> summary = pass->decode(sampler.visitor(), skipper);
  if (!summary.ok()) return summary.error();
  if (sampler.error()) return with_path(*sampler.error(), path);
  return PassResult{*summary, pass->info(), sampler.first_frame_size()};
}

// Copies the kept frames into the Clip in plan order.
ClipResult<Clip> assemble(ClipPlan plan, FrameStore& store, const DecodeOptions& options,
                          const std::string& path) {
  Clip clip;
  const size_t frame_bytes = store.frame_bytes();
  bool in_slot_order = store.resized_slot.size() == plan.frame_indices.size();
  for (size_t k = 0; k < plan.frame_indices.size(); ++k) {
    const auto found = store.resized_slot.find(plan.frame_indices[k]);
    if (found == store.resized_slot.end()) {
      return ClipError(ClipErrorKind::kDecodeError,
                       "media: " + path + ": frame " + std::to_string(plan.frame_indices[k]) +
                           " did not decode again in a second pass");
    }
    in_slot_order = in_slot_order && found->second == k;
  }
  if (in_slot_order) {
    clip.frames = std::move(store.resized_frames);
  } else {  // repeated indices, or frames kept by two passes
    clip.frames.resize(frame_bytes * plan.frame_indices.size());
    for (size_t k = 0; k < plan.frame_indices.size(); ++k) {
      const size_t slot = store.resized_slot.at(plan.frame_indices[k]);
      std::memcpy(&clip.frames[k * frame_bytes], &store.resized_frames[slot * frame_bytes],
                  frame_bytes);
    }
  }
  if (options.keep_selected_frames) {
    const FrameSize size = store.selected_sizes[plan.frame_indices.front()];
    for (int64_t index : plan.frame_indices) {
      if (store.selected_sizes[index] != size) {
        return ClipError(ClipErrorKind::kDecodeError,
                         "media: " + path + ": the chosen frames differ in size");
      }
      const std::vector<uint8_t>& frame = store.selected[index];
      clip.selected_frames.insert(clip.selected_frames.end(), frame.begin(), frame.end());
    }
    clip.selected_height = size.height;
    clip.selected_width = size.width;
  }
  clip.plan = std::move(plan);
  return clip;
}

// `timeline`, when given, receives the packets' timeline (also when the plan fails).
ClipResult<ClipPlan> estimate(const std::string& path, const DecodeOptions& options,
                              const PassSettings& settings, PacketTimeline* timeline = nullptr) {
  ClipResult<VideoPass> pass = VideoPass::open(path, settings);
  if (!pass.ok()) return pass.error();
  ClipResult<PassSummary> summary = pass->demux_only();
  if (!summary.ok()) return summary.error();
  if (timeline != nullptr) *timeline = std::move(summary->timeline);
  const StreamInfo& info = pass->info();
  if (summary->packets == 0) {
    return ClipError(ClipErrorKind::kDecodeError,
                     "media: " + path + ": no video packets" + ffmpeg_note(*summary));
  }
  ClipResult<ClipPlan> plan = make_plan(summary->packets, info.fps, {info.height, info.width},
                                        info.rotation_cw, options);
  if (!plan.ok()) return with_path(plan.error(), path);
  plan->exact = false;
  plan->truncated = summary->truncated;
  plan->truncation = summary->truncation;
  return plan;
}

}  // namespace

VisualGrid visual_grid(const ClipPlan& plan, const PatchGeometry& geometry) {
  VisualGrid grid;
  grid.grid_t = (plan.nframes + geometry.temporal_patch_size - 1) / geometry.temporal_patch_size;
  grid.grid_h = plan.resized_height / geometry.patch_size;
  grid.grid_w = plan.resized_width / geometry.patch_size;
  grid.patches = grid.grid_t * grid.grid_h * grid.grid_w;
  grid.visual_tokens = grid.patches / (geometry.merge_size * geometry.merge_size);
  return grid;
}

ClipResult<ClipPlan> estimate_plan(const std::string& path, const DecodeOptions& options) {
  if (auto bad = validate(options, path)) return *bad;
  return estimate(path, options, pass_settings(options));
}

namespace {

// An empty store for the frames of `plan`, at its size and rotation.
FrameStore store_for(const ClipPlan& plan) {
  FrameStore store;
  store.resized_size = {plan.resized_height, plan.resized_width};
  store.rotation = plan.rotation;
  return store;
}

ClipResult<ClipPlan> plan_once(const std::string& path, const DecodeOptions& options,
                               const PassSettings& settings) {
  FrameStore store;
  ClipResult<PassResult> pass = run_pass(path, settings, {}, false, options, store);
  if (!pass.ok()) return pass.error();
  return plan_from_pass(pass->summary, pass->info, pass->first_frame, options, path);
}

ClipResult<Clip> load_once(const std::string& path, const DecodeOptions& options,
                           const PassSettings& settings) {
  // Guess the plan from the packet count, keep the frames it picks while counting.
  PacketTimeline timeline;
  ClipResult<ClipPlan> guess = estimate(path, options, settings, &timeline);
  if (!guess.ok() && guess.error().kind() != ClipErrorKind::kTooFewFrames &&
      guess.error().kind() != ClipErrorKind::kDecodeError) {
    return guess.error();
  }
  const auto empty_store = [&] { return guess.ok() ? store_for(*guess) : FrameStore{}; };
  FrameStore store = empty_store();
  const std::vector<int64_t> wanted = guess.ok() ? guess->frame_indices : std::vector<int64_t>{};
  std::optional<FrameSkipper> skipper;
  if (guess.ok() && options.skip_unsampled_frames) skipper = FrameSkipper::plan(timeline, wanted);
  ClipResult<PassResult> pass =
      run_pass(path, settings, wanted, false, options, store, skipper ? &*skipper : nullptr);
  if (pass.ok() && pass->summary.skipping_failed) {  // rare: decode every frame instead
    store = empty_store();
    pass = run_pass(path, settings, wanted, false, options, store);
  }
  if (!pass.ok()) return pass.error();
  int64_t frames_decoded = pass->summary.frames_decoded;
  ClipResult<ClipPlan> plan =
      plan_from_pass(pass->summary, pass->info, pass->first_frame, options, path);
  if (!plan.ok()) return plan.error();

  // Frames the exact plan needs that the guess did not keep (or kept at another size).
  if (store.resized_size != FrameSize{plan->resized_height, plan->resized_width} ||
      store.rotation != plan->rotation) {
    store = store_for(*plan);
  }
  std::vector<int64_t> missing;
  for (int64_t index : plan->frame_indices) {
    if (store.resized_slot.count(index) == 0) missing.push_back(index);
  }
  if (!missing.empty()) {
    ClipResult<PassResult> second = run_pass(path, settings, missing, true, options, store);
    if (!second.ok()) return second.error();
    frames_decoded += second->summary.frames_decoded;
  }
  ClipResult<Clip> clip = assemble(std::move(*plan), store, options, path);
  if (clip.ok()) clip->frames_decoded = frames_decoded;
  return clip;
}

// How many frames of a damaged stream decode depends on the decoder's thread count (frames in
// flight when the data breaks are lost), so damaged files are decoded again on one thread:
// the count (and the frames) are then the same on every machine, and the largest.
bool damaged(const ClipError& error) { return error.kind() == ClipErrorKind::kTruncated; }
bool damaged(const ClipPlan& plan) { return plan.truncated; }
bool damaged(const Clip& clip) { return clip.plan.truncated; }
template <typename T, typename Once>
ClipResult<T> with_single_thread_retry(const DecodeOptions& options, Once once) {
  ClipResult<T> result = once(options);
  const bool retry = result.ok() ? damaged(*result) : damaged(result.error());
  if (!retry || options.threads == 1) return result;
  DecodeOptions single = options;
  single.threads = 1;
  return once(single);
}

}  // namespace

ClipResult<ClipPlan> plan_clip(const std::string& path, const DecodeOptions& options) {
  if (auto bad = validate(options, path)) return *bad;
  const PassSettings settings = pass_settings(options);
  return with_single_thread_retry<ClipPlan>(options, [&](const DecodeOptions& o) {
    return plan_once(path, o, PassSettings{o.threads, settings.deadline});
  });
}

ClipResult<Clip> load_clip(const std::string& path, const DecodeOptions& options) {
  if (auto bad = validate(options, path)) return *bad;
  const PassSettings settings = pass_settings(options);
  return with_single_thread_retry<Clip>(options, [&](const DecodeOptions& o) {
    return load_once(path, o, PassSettings{o.threads, settings.deadline});
  });
}

ClipResult<Clip> load_clip(const std::string& path, const DecodeOptions& options,
                           const ClipPlan& plan) {
  if (auto bad = validate(options, path)) return *bad;
  FrameStore store = store_for(plan);
  PassSettings settings = pass_settings(options);
  if (plan.truncated) settings.threads = 1;  // as plan_clip counted it
  ClipResult<PassResult> pass =
      run_pass(path, settings, plan.frame_indices, false, options, store);
  if (!pass.ok()) return pass.error();
  ClipResult<ClipPlan> decoded =
      plan_from_pass(pass->summary, pass->info, pass->first_frame, options, path);
  if (!decoded.ok()) return decoded.error();
  if (decoded->total_frames != plan.total_frames) {
    return ClipError(ClipErrorKind::kDecodeError,
                     "media: " + path + ": decodes to " + std::to_string(decoded->total_frames) +
                         " frames, the plan says " + std::to_string(plan.total_frames));
  }
  return assemble(plan, store, options, path);
}

}  // namespace vcap::media
