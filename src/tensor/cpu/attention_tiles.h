// What the vector attention kernels (attention_avx512.cpp, attention_avx2.cpp) share: the
// per-task working set and its set-up and read-out, which need no vector instructions.
//
// Layout: the task's queries ("lanes") run along the lanes of a vector. Q is transposed once
// per task (qt[d][lane]), so a score tile is st[key][lane] = sum_d K[key][d] * qt[d][lane]
// (broadcast a key element, FMA a vector of lanes) and the online softmax is purely vertical
// (one lane = one query, no horizontal reductions). No key tile is ever repacked.
#ifndef VCAP_TENSOR_CPU_ATTENTION_TILES_H_
#define VCAP_TENSOR_CPU_ATTENTION_TILES_H_

#include <cstdint>
#include <vector>

namespace vcap::tensor::cpu {

inline constexpr int kTileKeys = 64;

// One task's working set, carved from one vector, 64-byte aligned (lp = lanes padded to a whole
// number of vectors):
struct TileScratch {
  float* qt;           // [dim][lp]       queries, transposed
  float* st;           // [kTileKeys][lp] scores, then probabilities, of the current key tile
  float* acc;          // [lanes][dim]    unnormalised outputs
  float* max;          // [lp]            running max per query (-inf: no key seen yet)
  float* sum;          // [lp]            running sum of exp per query
  float* scale;        // [lp]            rescale factor of the current tile
  int32_t* end;        // [lp]            keys [0, end) visible per query (0 for padding lanes)
  const float* zeros;  // [dim]           stands in for keys past the end of a tile
};

// Carves the working set of `lanes` queries of `dim` from `storage` (grown as needed) and fills
// it for a first key tile: q transposed (padding lanes 0), end, max -inf, sum and acc 0.
TileScratch start_tile_task(std::vector<float>& storage, const float* const* q, const int64_t* end,
                            int64_t lanes, int64_t lp, int dim);

// out[l] = acc[l] / sum[l] for every lane (zeros for a query that saw no key).
void finish_tile_task(const TileScratch& s, float* const* out, int64_t lanes, int dim);

}  // namespace vcap::tensor::cpu

#endif  // VCAP_TENSOR_CPU_ATTENTION_TILES_H_
