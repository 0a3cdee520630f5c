// Video clips in, sampled and resized RGB frames out: the public API of src/media.
//
// What comes out is what the reference (qwen-vl-utils 0.0.8 with the torchvision/PyAV reader,
// spec/QWEN2VL.md §6) gives for the same file:
//   - every frame of the best video stream is decoded (FFmpeg, frame threading) and counted:
//     total_frames (frames nothing needs are counted without being decoded; see Cost); video_fps is
//     the stream's avg_frame_rate (else r_frame_rate);
//   - nframes = smart_nframes(total_frames, video_fps, fps) and the frame indices are the
//     float32 linspace rounded half to even (sampling.h). Frames are chosen by decode index,
//     not by timestamp: for variable-frame-rate files the chosen frames are evenly spaced in
//     frame count, not in time (the reference does the same);
//   - the chosen frames are converted to RGB24 as PyAV does (libswscale, SWS_BILINEAR, default
//     BT.601 colour details) and resized with the antialiased bicubic of §6.6 to
//     smart_resize(h, w, 28, min_pixels, max_pixels) (or the exact-size mode).
// vcap's one departure: with autorotate (the default) the display matrix is applied, so phone
// videos come out upright; the size rules then use the displayed size. autorotate = false gives
// the reference's frames exactly.
//
// Cost: memory is O(chosen frames) (other frames are decoded and dropped without colour
// conversion). load_clip first counts the video packets without decoding (a cheap demux pass),
// samples assuming that count is the frame count, and converts and resizes the chosen frames
// during one decoding pass. In that pass, H.264 and HEVC frames that are neither chosen nor
// referenced by other frames are not decoded at all (skip_unsampled_frames; about a third of
// the decode time of a typical file with B-frames): the chosen frames keep their bits, and
// frames are then numbered by timestamp (frame_skipping.h says when that is not used). When the
// decoded count differs (hidden VP9 frames, edit lists, damaged files), the indices change and a
// second decoding pass converts the frames still missing; see load_clip. A damaged (truncated) file
// is decoded once more on one thread: how many frames of a broken stream come out depends on the
// decoder's thread count, and one thread gives the same (and the most) frames everywhere.
//
// Thread safety: every function here may run concurrently on different clips.
#ifndef VCAP_MEDIA_CLIP_H_
#define VCAP_MEDIA_CLIP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "media/clip_error.h"
#include "media/sampling.h"

namespace vcap::media {

enum class ResizeMode {
  kAreaCap,  // keep the aspect; area within [min_pixels, max_pixels] (spec §6.5)
  kExact,    // exactly exact_height x exact_width, each rounded to a multiple of 28
};

struct DecodeOptions {
  double fps = 4.0;                        // frames sampled per second of video
  int64_t max_pixels = 448 * 672;          // area cap per frame (kAreaCap)
  int64_t min_pixels = kVideoMinPixels;    // area floor per frame (kAreaCap)
  ResizeMode resize_mode = ResizeMode::kAreaCap;
  int64_t exact_height = 448;              // kExact only: smart_resize(h, w, 28, 3136, 12845056)
  int64_t exact_width = 672;
  bool autorotate = true;                  // apply the display matrix (false = reference frames)
  int threads = 0;                         // decoder threads; 0 lets FFmpeg choose (per core)
  double deadline_sec = 300;               // per call; past it the clip fails with kTimeout
  bool keep_selected_frames = false;       // also return the chosen frames before resizing
  bool accept_truncated = false;           // a truncated file gives its decodable frames
                                           // (plan.truncated set) instead of kTruncated
  bool skip_unsampled_frames = true;       // leave undecoded the frames that are neither
                                           // sampled nor referenced (same output; see Cost)
};

// Everything known about a clip before any pixel work.
struct ClipPlan {
  int64_t total_frames = 0;              // frames the stream decodes to
  double video_fps = 0;                  // avg_frame_rate (else r_frame_rate)
  int64_t nframes = 0;                   // sampled frames (even, >= 2)
  std::vector<int64_t> frame_indices;    // increasing decode indices, nframes of them
  int64_t orig_height = 0;               // decoded frame size, as displayed (after rotation)
  int64_t orig_width = 0;
  int64_t resized_height = 0;            // output size, multiples of 28
  int64_t resized_width = 0;
  int rotation = 0;                      // clockwise degrees applied (0 when autorotate off)
  bool exact = true;                     // false: total_frames is a packet-count estimate
  bool truncated = false;                // only with accept_truncated: the file is damaged
  std::string truncation;                // why, when truncated

  bool operator==(const ClipPlan&) const = default;
};

// The Qwen2-VL patch geometry (spec §7.4): a token is merge_size^2 patches of
// patch_size^2 pixels, temporal_patch_size frames deep.
struct PatchGeometry {
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;
};

struct VisualGrid {
  int64_t grid_t = 0;  // nframes / temporal_patch_size (rounded up)
  int64_t grid_h = 0;  // resized_height / patch_size
  int64_t grid_w = 0;  // resized_width / patch_size
  int64_t patches = 0;        // grid_t * grid_h * grid_w: rows of pixel_values
  int64_t visual_tokens = 0;  // patches / merge_size^2: video pad tokens in the prompt
};

// The grid and token count a plan leads to (e.g. 40 frames of 392x728: 20x28x52, 7280 tokens).
VisualGrid visual_grid(const ClipPlan& plan, const PatchGeometry& geometry = {});

struct Clip {
  ClipPlan plan;
  // [nframes, 3, resized_height, resized_width] uint8 RGB, channel-first, frames in plan order.
  std::vector<uint8_t> frames;
  // Only with keep_selected_frames: [nframes, selected_height, selected_width, 3] uint8 RGB,
  // the chosen frames as decoded (coded orientation, never rotated; the reference's
  // frames_selected). REQUIRES of the file: all chosen frames have one size.
  std::vector<uint8_t> selected_frames;
  int64_t selected_height = 0;
  int64_t selected_width = 0;
  // Frames the decoder reconstructed, all passes together (load_clip(path, options) only):
  // fewer than plan.total_frames when unsampled non-reference frames were skipped.
  int64_t frames_decoded = 0;
};

// The exact plan, from one decoding pass that converts nothing. Errors: those of load_clip.
ClipResult<ClipPlan> plan_clip(const std::string& path, const DecodeOptions& options);

// A quick plan from the container alone: total_frames is the number of video packets (a cheap
// demux pass, no decoding), so plan.exact is false. For valid files it equals the decoded count
// or exceeds it (hidden frames, edit lists), so the token count is an upper bound in practice;
// use it to refuse clips over a budget before decoding. Frame size and rotation are the
// stream's. Errors: those of load_clip except kTruncated.
ClipResult<ClipPlan> estimate_plan(const std::string& path, const DecodeOptions& options);

// Decodes a clip: plan, chosen frames resized (and, if asked, as decoded).
// Errors (kind: when):
//   kNotFound, kIsDirectory, kEmptyFile, kIoError: the path is no readable regular file;
//   kNotMedia: FFmpeg recognises no container; kNoVideoStream: no video stream;
//   kUnsupportedCodec: no decoder for the stream, or a pixel format swscale cannot convert;
//   kTruncated: the data ends early or becomes unreadable (message: frames decoded, reason),
//     unless options.accept_truncated, which returns the decodable part with plan.truncated;
//   kDecodeError: no frame decodes, or the stream has no frame rate;
//   kTooFewFrames: fewer than 2 frames to sample (e.g. a 1-frame file);
//   kBadAspectRatio: a side over 200 times the other; kTimeout: options.deadline_sec passed;
//   kInvalidOptions: fps, pixel bounds or exact size not positive.
ClipResult<Clip> load_clip(const std::string& path, const DecodeOptions& options);

// The same with a plan from plan_clip (same options): one decoding pass converts the planned
// frames. Fails with kDecodeError if the file no longer decodes to plan.total_frames.
ClipResult<Clip> load_clip(const std::string& path, const DecodeOptions& options,
                           const ClipPlan& plan);

}  // namespace vcap::media

#endif  // VCAP_MEDIA_CLIP_H_
