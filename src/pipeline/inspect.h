// `vcap inspect`: every intermediate result of captioning one clip, written as files with the
// names and formats of ../shared/golden/cases (golden/README.md), so that each stage can be
// compared with the reference on its own:
//   video:  video_info.json, frames_resized_u8.npy [T, 3, H, W] uint8, pixel_values.npy
//           [patches, 1176] f32, grid_thw.npy [1, 3] int64;
//   prompt: prompt.txt (before expansion), input_ids.npy [L] int64, position_ids.npy [3, L]
//           int64 (M-RoPE, spec §10.1);
//   model:  vision_features.npy [tokens, hidden] f32, prefill_last_logits.npy [vocab] f32,
//           generated_ids.json (the answer's ids, eos kept), text.txt (the caption).
// A stage can be fed with given inputs instead of its own: pixel values (with their grid)
// replace the video stages, and input ids replace the prompt's.
#ifndef VCAP_PIPELINE_INSPECT_H_
#define VCAP_PIPELINE_INSPECT_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "base/status.h"
#include "pipeline/caption_options.h"

namespace vcap::pipeline {

struct InspectOptions {
  std::string video;              // the clip; may be empty when pixel_values_file is set
  std::string model;              // a model folder or a hub id (hub/model_resolver.h)
  std::string revision = "main";  // hub revision when `model` is a hub id
  std::filesystem::path out_dir;  // created if missing; files in it are replaced
  std::string question = "Describe the video in details";
  double fps = 4;        // frames sampled per second
  int64_t height = 448;  // max_pixels = height * width (or the exact size)
  int64_t width = 672;
  bool exact_size = false;                  // resize to exactly height x width (multiples of 28)
  bool autorotate = true;                   // apply display rotation (false: reference frames)
  std::filesystem::path pixel_values_file;  // .npy f32 [patches, 1176]: skips the video stages
  std::array<int64_t, 3> grid_thw{};        // the grid of pixel_values_file (required with it)
  std::filesystem::path input_ids_file;     // .npy int64 [L]: replaces the prompt's ids
  bool run_model = true;                    // false: video and prompt stages only (no weights)
  int64_t max_new_tokens = 200;
  Precision precision = Precision::kF32;  // f32 by default: inspect is for parity checks
  std::string device = "cpu";
  int threads = 0;  // 0 = all cores
};

// Runs the stages and writes their files into options.out_dir. Errors name the stage and the
// file or clip at fault (a clip error carries the media message).
Status run_inspect(const InspectOptions& options);

}  // namespace vcap::pipeline

#endif  // VCAP_PIPELINE_INSPECT_H_
