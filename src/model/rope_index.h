// Position ids and rotary angle tables of Qwen2-VL (spec/QWEN2VL.md §8.2, §10).
//
// The language model rotates q and k with three position rows per token (temporal, height,
// width: "M-RoPE"); the vision tower rotates them with a 2-D (row, column) position per patch.
// This file computes the integer positions and the float32 angle tables the backend's rotary op
// consumes: cos/sin of shape [rows, head_dim/2] (the reference repeats them to head_dim; the
// second half is identical, so the backend only needs one half).
//
// All functions are pure; bad input (grids that do not match the pad tokens) is a Status.
#ifndef VCAP_MODEL_ROPE_INDEX_H_
#define VCAP_MODEL_ROPE_INDEX_H_

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace vcap::model {

// A token id of the Qwen2 vocabulary (< 2^31).
using TokenId = int32_t;

// Special token ids shared by all Qwen2-VL checkpoints (spec §2.1); config.json may override.
struct VisionTokenIds {
  TokenId vision_start = 151652;  // <|vision_start|>
  TokenId image_pad = 151655;     // <|image_pad|>
  TokenId video_pad = 151656;     // <|video_pad|>
};

// One image or video in patches of 14 px: t = frame pairs, h/w = patch rows/columns.
struct VisionGrid {
  int64_t t = 0;
  int64_t h = 0;
  int64_t w = 0;

  int64_t num_patches() const { return t * h * w; }
  // LLM tokens after the 2x2 patch merger: t·(h/m)·(w/m).
  int64_t num_tokens(int64_t merge_size) const { return t * (h / merge_size) * (w / merge_size); }
  bool operator==(const VisionGrid&) const = default;
};

// M-RoPE positions of one prompt (spec §10.1).
struct RopeIndex {
  int64_t length = 0;              // L, tokens in the prompt
  std::vector<int64_t> positions;  // [3, L] row-major: rows T, H, W
  int64_t rope_delta = 0;          // max(positions) + 1 - L (usually negative)

  int64_t at(int row, int64_t token) const { return positions[row * length + token]; }
};

// get_rope_index for ONE sequence without padding (spec §10.1). Vision blocks are taken in
// order of appearance; each consumes the next image grid (pad `image_pad`) or video grid (pad
// `video_pad`). Errors: a block without a grid, grids left unused, a grid whose h or w is not a
// multiple of `merge_size`, or fewer pad tokens in a block than the grid needs.
Result<RopeIndex> get_rope_index(std::span<const TokenId> ids,
                                 std::span<const VisionGrid> image_grids,
                                 std::span<const VisionGrid> video_grids, int64_t merge_size,
                                 const VisionTokenIds& tokens = {});

// The position (equal on all three rows) of the token at absolute sequence index
// `sequence_index` during decoding (spec §10.2): sequence_index + rope_delta.
inline int64_t decode_position(int64_t sequence_index, int64_t rope_delta) {
  return sequence_index + rope_delta;
}

// cos/sin tables for the backend's rotary op: [rows, half] row-major float32, where element
// (r, j) rotates the pair (j, j + half) of every head of row r.
struct RotaryTable {
  int64_t rows = 0;
  int64_t half = 0;        // head_dim / 2
  std::vector<float> cos;  // [rows, half]
  std::vector<float> sin;  // [rows, half]
};

// LLM rotary settings (spec §2.2, §10.3).
struct MRopeParams {
  int64_t head_dim = 128;
  double theta = 1000000.0;                       // rope_theta
  std::array<int64_t, 3> section = {16, 24, 24};  // mrope_section; sums to head_dim / 2
};

// inv_freq[j] = 1 / theta^(2j / head_dim), j < head_dim/2, in float32 as the reference does.
std::vector<float> rope_inverse_frequencies(int64_t head_dim, double theta);

// Fills `table` with the M-RoPE angles of `count` tokens (spec §10.3): token i has positions
// (pos_t[i], pos_h[i], pos_w[i]); column j uses pos_t for j < section[0], pos_h for the next
// section[1] columns and pos_w for the rest. `inv_freq` from rope_inverse_frequencies.
// REQUIRES: the three spans have equal length; section sums to head_dim / 2.
void mrope_table(std::span<const int64_t> pos_t, std::span<const int64_t> pos_h,
                 std::span<const int64_t> pos_w, std::span<const float> inv_freq,
                 const MRopeParams& params, RotaryTable& table);

// Tokens [begin, begin + count) of a prompt's RopeIndex.
void mrope_table_for_prompt(const RopeIndex& index, int64_t begin, int64_t count,
                            std::span<const float> inv_freq, const MRopeParams& params,
                            RotaryTable& table);

// (row, column) of every patch, in pixel_values row order (spec §7.4, §8.2): 2x2 blocks in
// raster order, raster order inside a block, repeated for every frame pair; grids concatenated.
// Returned as [patches, 2] row-major.
std::vector<int64_t> vision_patch_positions(std::span<const VisionGrid> grids, int64_t merge_size);

// 2-D vision rotary table (spec §8.2) for all patches of `grids`: half = head_dim/2; column
// i < half/2 is hpos·inv_freq[i], column half/2 + i is wpos·inv_freq[i], where
// inv_freq = rope_inverse_frequencies(head_dim / 2, theta).
RotaryTable vision_rotary_table(std::span<const VisionGrid> grids, int64_t head_dim,
                                int64_t merge_size, double theta = 10000.0);

}  // namespace vcap::model

#endif  // VCAP_MODEL_ROPE_INDEX_H_
