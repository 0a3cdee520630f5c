#include "model/rope_index.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace vcap::model {
namespace {

// Index of the first `token` at or after `from`, or ids.size() when there is none.
size_t find_token(std::span<const TokenId> ids, TokenId token, size_t from) {
  const auto it = std::find(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end(), token);
  return static_cast<size_t>(it - ids.begin());
}

// Appends `count` text positions next, next+1, ... on all three rows.
void append_text(std::array<std::vector<int64_t>, 3>& rows, int64_t next, int64_t count) {
  for (auto& row : rows) {
    for (int64_t i = 0; i < count; ++i) row.push_back(next + i);
  }
}

}  // namespace

Result<RopeIndex> get_rope_index(std::span<const TokenId> ids,
                                 std::span<const VisionGrid> image_grids,
                                 std::span<const VisionGrid> video_grids, int64_t merge_size,
                                 const VisionTokenIds& tokens) {
  if (merge_size <= 0) return Status::invalid_argument("rope index: merge_size must be > 0");
  // Step 1: count the vision blocks (a vision_start followed by an image or video pad).
  size_t num_blocks = 0;
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    if (ids[i] == tokens.vision_start &&
        (ids[i + 1] == tokens.image_pad || ids[i + 1] == tokens.video_pad)) {
      ++num_blocks;
    }
  }
  if (num_blocks != image_grids.size() + video_grids.size()) {
    return Status::invalid_argument("rope index: " + std::to_string(num_blocks) +
                                    " vision blocks in the prompt but " +
                                    std::to_string(image_grids.size()) + " image and " +
                                    std::to_string(video_grids.size()) + " video grids");
  }
  std::array<std::vector<int64_t>, 3> rows;
  for (auto& row : rows) row.reserve(ids.size());
  size_t st = 0;
  int64_t next = 0;  // 1 + the largest position so far
  size_t image_index = 0;
  size_t video_index = 0;
  for (size_t block = 0; block < num_blocks; ++block) {
    // Step 3: the next block is whichever pad comes first (HF compares list.index results).
    const size_t ed_image =
        image_index < image_grids.size() ? find_token(ids, tokens.image_pad, st) : ids.size() + 1;
    const size_t ed_video =
        video_index < video_grids.size() ? find_token(ids, tokens.video_pad, st) : ids.size() + 1;
    const bool is_image = ed_image < ed_video;
    const size_t ed = is_image ? ed_image : ed_video;
    if (ed >= ids.size()) {
      return Status::invalid_argument("rope index: vision block " + std::to_string(block) +
                                      " has no pad token after position " + std::to_string(st));
    }
    const VisionGrid grid = is_image ? image_grids[image_index++] : video_grids[video_index++];
    if (grid.t <= 0 || grid.h <= 0 || grid.w <= 0 || grid.h % merge_size != 0 ||
        grid.w % merge_size != 0) {
      return Status::invalid_argument("rope index: grid (" + std::to_string(grid.t) + ", " +
                                      std::to_string(grid.h) + ", " + std::to_string(grid.w) +
                                      ") is empty or not a multiple of the merge size");
    }
    const int64_t gt = grid.t;
    const int64_t gh = grid.h / merge_size;
    const int64_t gw = grid.w / merge_size;
    const size_t pad_count = static_cast<size_t>(gt * gh * gw);
    const TokenId pad = is_image ? tokens.image_pad : tokens.video_pad;
    if (ed + pad_count > ids.size() ||
        std::any_of(ids.begin() + static_cast<std::ptrdiff_t>(ed),
                    ids.begin() + static_cast<std::ptrdiff_t>(ed + pad_count),
                    [pad](TokenId id) { return id != pad; })) {
      return Status::invalid_argument("rope index: vision block " + std::to_string(block) +
                                      " needs " + std::to_string(pad_count) +
                                      " consecutive pad tokens at position " + std::to_string(ed));
    }
    const int64_t text_len = static_cast<int64_t>(ed - st);
    append_text(rows, next, text_len);
    const int64_t base = next + text_len;
    for (int64_t ti = 0; ti < gt; ++ti) {
      for (int64_t hi = 0; hi < gh; ++hi) {
        for (int64_t wi = 0; wi < gw; ++wi) {
          rows[0].push_back(base + ti);
          rows[1].push_back(base + hi);
          rows[2].push_back(base + wi);
        }
      }
    }
    next = base + std::max({gt, gh, gw});
    st = ed + pad_count;
  }
  // Step 4: the text after the last block.
  append_text(rows, next, static_cast<int64_t>(ids.size() - st));

  RopeIndex index;
  index.length = static_cast<int64_t>(ids.size());
  index.positions.reserve(3 * ids.size());
  int64_t max_position = -1;
  for (const auto& row : rows) {
    index.positions.insert(index.positions.end(), row.begin(), row.end());
    if (!row.empty())
      max_position = std::max(max_position, *std::max_element(row.begin(), row.end()));
  }
  // Step 5/6: without vision the positions are 0..L-1 and the delta is 0 by the same formula.
  index.rope_delta = ids.empty() ? 0 : max_position + 1 - index.length;
  return index;
}

std::vector<float> rope_inverse_frequencies(int64_t head_dim, double theta) {
  // The reference: 1.0 / (theta ** (arange(0, dim, 2).float() / dim)), all in float32.
  std::vector<float> inv_freq(static_cast<size_t>(head_dim / 2));
  const float base = static_cast<float>(theta);
  for (size_t j = 0; j < inv_freq.size(); ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[j] = 1.0f / std::pow(base, exponent);
  }
  return inv_freq;
}

void mrope_table(std::span<const int64_t> pos_t, std::span<const int64_t> pos_h,
                 std::span<const int64_t> pos_w, std::span<const float> inv_freq,
                 const MRopeParams& params, RotaryTable& table) {
  const int64_t half = params.head_dim / 2;
  VCAP_CHECK(pos_t.size() == pos_h.size() && pos_t.size() == pos_w.size(),
             "mrope_table: position rows differ in length");
  VCAP_CHECK(params.section[0] + params.section[1] + params.section[2] == half &&
                 static_cast<int64_t>(inv_freq.size()) == half,
             "mrope_table: mrope_section must sum to head_dim / 2");
  const int64_t rows = static_cast<int64_t>(pos_t.size());
  table.rows = rows;
  table.half = half;
  table.cos.resize(static_cast<size_t>(rows * half));
  table.sin.resize(static_cast<size_t>(rows * half));
  const int64_t h_begin = params.section[0];
  const int64_t w_begin = params.section[0] + params.section[1];
  for (int64_t r = 0; r < rows; ++r) {
    const auto ri = static_cast<size_t>(r);
    for (int64_t j = 0; j < half; ++j) {
      const int64_t p = j < h_begin ? pos_t[ri] : (j < w_begin ? pos_h[ri] : pos_w[ri]);
      // float32 product, as the reference's (inv_freq @ position) outer product.
      const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(j)];
      table.cos[static_cast<size_t>(r * half + j)] = std::cos(angle);
      table.sin[static_cast<size_t>(r * half + j)] = std::sin(angle);
    }
  }
}

void mrope_table_for_prompt(const RopeIndex& index, int64_t begin, int64_t count,
                            std::span<const float> inv_freq, const MRopeParams& params,
                            RotaryTable& table) {
  VCAP_CHECK(begin >= 0 && count >= 0 && begin + count <= index.length,
             "mrope_table_for_prompt: token range outside the prompt");
  const std::span<const int64_t> all(index.positions);
  const auto b = static_cast<size_t>(begin);
  const auto n = static_cast<size_t>(count);
  const auto len = static_cast<size_t>(index.length);
  mrope_table(all.subspan(b, n), all.subspan(len + b, n), all.subspan(2 * len + b, n), inv_freq,
              params, table);
}

std::vector<int64_t> vision_patch_positions(std::span<const VisionGrid> grids, int64_t merge_size) {
  std::vector<int64_t> positions;
  for (const VisionGrid& grid : grids) {
    positions.reserve(positions.size() + static_cast<size_t>(2 * grid.num_patches()));
    for (int64_t t = 0; t < grid.t; ++t) {
      for (int64_t br = 0; br < grid.h / merge_size; ++br) {
        for (int64_t bc = 0; bc < grid.w / merge_size; ++bc) {
          for (int64_t mr = 0; mr < merge_size; ++mr) {
            for (int64_t mc = 0; mc < merge_size; ++mc) {
              positions.push_back(br * merge_size + mr);
              positions.push_back(bc * merge_size + mc);
            }
          }
        }
      }
    }
  }
  return positions;
}

RotaryTable vision_rotary_table(std::span<const VisionGrid> grids, int64_t head_dim,
                                int64_t merge_size, double theta) {
  const int64_t half = head_dim / 2;
  const int64_t quarter = half / 2;
  const std::vector<float> inv_freq = rope_inverse_frequencies(half, theta);
  const std::vector<int64_t> positions = vision_patch_positions(grids, merge_size);
  RotaryTable table;
  table.rows = static_cast<int64_t>(positions.size() / 2);
  table.half = half;
  table.cos.resize(static_cast<size_t>(table.rows * half));
  table.sin.resize(static_cast<size_t>(table.rows * half));
  for (int64_t r = 0; r < table.rows; ++r) {
    for (int64_t i = 0; i < half; ++i) {
      const int64_t axis = i < quarter ? 0 : 1;  // row position, then column position
      const auto p = static_cast<float>(positions[static_cast<size_t>(2 * r + axis)]);
      const float angle = p * inv_freq[static_cast<size_t>(i % quarter)];
      table.cos[static_cast<size_t>(r * half + i)] = std::cos(angle);
      table.sin[static_cast<size_t>(r * half + i)] = std::sin(angle);
    }
  }
  return table;
}

}  // namespace vcap::model
