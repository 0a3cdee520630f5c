#include "tensor/cuda/attention_plan.h"

#include <algorithm>
#include <cstring>

namespace vcap::tensor::cuda {
namespace {

// One (block, kv head, lane tile) and the keys its lanes may see: [0, key_end).
struct Tile {
  int32_t block;
  int32_t kv_head;
  int64_t lane_begin;
  int64_t key_end;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t align16(size_t offset) { return (offset + 15) / 16 * 16; }

template <class T>
void append(std::vector<std::byte>& blob, size_t offset, const std::vector<T>& values) {
  blob.resize(offset + values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(blob.data() + offset, values.data(), values.size() * sizeof(T));
}

std::vector<Tile> make_tiles(std::span<const AttentionBlock> blocks, int group, int kv_heads) {
  std::vector<Tile> tiles;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const AttentionBlock& block = blocks[b];
    const int64_t lanes = block.q_count * group;
    for (int g = 0; g < kv_heads; ++g) {
      for (int64_t lane = 0; lane < lanes; lane += kAttentionTileLanes) {
        // Causal visibility grows with the row: the tile's last row sees the most keys.
        const int64_t last_row =
            std::min(block.q_count - 1, (lane + kAttentionTileLanes - 1) / group);
        int64_t end = block.k.rows;
        if (block.causal) end = std::clamp<int64_t>(last_row + block.causal_offset + 1, 0, end);
        tiles.push_back({static_cast<int32_t>(b), g, lane, end});
      }
    }
  }
  return tiles;
}

}  // namespace

AttentionPlan make_attention_plan(std::span<const AttentionBlock> blocks,
                                  const AttentionParams& params, int target_items,
                                  int min_keys_per_part) {
  const int group = params.num_heads / params.num_kv_heads;
  std::vector<AttentionBlockDesc> descs;
  for (const AttentionBlock& block : blocks) {
    descs.push_back({block.k.data, block.v.data, block.k.row_stride, block.v.row_stride,
                     block.q_begin, block.q_count, block.k.rows, block.causal_offset,
                     block.causal ? 1 : 0, block.k.dtype == DType::kBF16 ? 1 : 0});
  }
  const std::vector<Tile> tiles = make_tiles(blocks, group, params.num_kv_heads);
  AttentionPlan plan;
  plan.warp_keys = std::all_of(blocks.begin(), blocks.end(), [&](const AttentionBlock& block) {
    return block.q_count * group <= 16;
  });
  const int64_t parts_wanted =
      tiles.empty() ? 1 : std::max<int64_t>(1, target_items / static_cast<int64_t>(tiles.size()));

  std::vector<AttentionItem> items;
  std::vector<AttentionCombine> combines;
  for (const Tile& tile : tiles) {
    const int64_t parts =
        std::clamp<int64_t>(tile.key_end / std::max(min_keys_per_part, 1), 1, parts_wanted);
    if (parts <= 1) {
      items.push_back({tile.lane_begin, tile.block, tile.kv_head, 0,
                       static_cast<int32_t>(tile.key_end), -1, -1});
      continue;
    }
    // Equal parts, each a whole number of key tiles.
    const int64_t part_keys =
        ceil_div(ceil_div(tile.key_end, parts), kAttentionTileKeys) * kAttentionTileKeys;
    const int first = plan.partial_count;
    const auto combine = static_cast<int32_t>(combines.size());
    int count = 0;
    for (int64_t begin = 0; begin < tile.key_end; begin += part_keys, ++count) {
      const int64_t end = std::min(tile.key_end, begin + part_keys);
      items.push_back({tile.lane_begin, tile.block, tile.kv_head, static_cast<int32_t>(begin),
                       static_cast<int32_t>(end), plan.partial_count++, combine});
    }
    combines.push_back({tile.lane_begin, tile.block, tile.kv_head, first, count});
  }
  // The GPU starts thread blocks roughly in order: the longest first balances the tail.
  std::stable_sort(items.begin(), items.end(), [](const AttentionItem& a, const AttentionItem& b) {
    return a.key_end - a.key_begin > b.key_end - b.key_begin;
  });

  append(plan.tables, 0, descs);
  plan.items_offset = align16(plan.tables.size());
  append(plan.tables, plan.items_offset, items);
  plan.combines_offset = align16(plan.tables.size());
  append(plan.tables, plan.combines_offset, combines);
  plan.item_count = static_cast<int>(items.size());
  plan.combine_count = static_cast<int>(combines.size());
  return plan;
}

AttentionLaunch make_attention_launch(const AttentionPlan& plan, const std::byte* tables,
                                      TensorView out, TensorView q, float* partials,
                                      int32_t* arrivals, const AttentionParams& params) {
  AttentionLaunch launch{};
  launch.q = q.ptr<const float>();
  launch.q_stride = q.row_stride;
  launch.out = out.data;
  launch.out_stride = out.row_stride;
  launch.partials = partials;
  launch.arrivals = arrivals;
  launch.blocks = reinterpret_cast<const AttentionBlockDesc*>(tables);
  launch.items = reinterpret_cast<const AttentionItem*>(tables + plan.items_offset);
  launch.combines = reinterpret_cast<const AttentionCombine*>(tables + plan.combines_offset);
  launch.item_count = plan.item_count;
  launch.combine_count = plan.combine_count;
  launch.group = params.num_heads / params.num_kv_heads;
  launch.head_dim = params.head_dim;
  launch.scale = params.scale;
  launch.bf16_products = params.bf16_products ? 1 : 0;
  launch.out_bf16 = out.dtype == DType::kBF16 ? 1 : 0;
  launch.warp_keys = plan.warp_keys ? 1 : 0;
  return launch;
}

}  // namespace vcap::tensor::cuda
