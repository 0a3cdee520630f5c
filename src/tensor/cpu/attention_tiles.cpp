#include "tensor/cpu/attention_tiles.h"

#include <algorithm>
#include <limits>

namespace vcap::tensor::cpu {

TileScratch start_tile_task(std::vector<float>& storage, const float* const* q, const int64_t* end,
                            int64_t lanes, int64_t lp, int dim) {
  const size_t need =
      static_cast<size_t>(dim) * lp + kTileKeys * lp + lanes * dim + 4 * lp + dim + 16;
  if (storage.size() < need) storage.resize(need);
  const auto address = reinterpret_cast<uintptr_t>(storage.data());
  float* p = storage.data() + ((64 - address % 64) % 64) / sizeof(float);
  TileScratch s;
  s.qt = p;
  s.st = s.qt + dim * lp;
  s.max = s.st + kTileKeys * lp;
  s.sum = s.max + lp;
  s.scale = s.sum + lp;
  s.end = reinterpret_cast<int32_t*>(s.scale + lp);
  float* zeros = s.scale + 2 * lp;
  std::fill(zeros, zeros + dim, 0.0f);
  s.zeros = zeros;
  s.acc = zeros + dim;

  for (int d = 0; d < dim; ++d) {
    for (int64_t l = 0; l < lp; ++l) s.qt[d * lp + l] = l < lanes ? q[l][d] : 0.0f;
  }
  for (int64_t l = 0; l < lp; ++l) {
    s.end[l] = l < lanes ? static_cast<int32_t>(end[l]) : 0;
    s.max[l] = -std::numeric_limits<float>::infinity();
    s.sum[l] = 0.0f;
  }
  std::fill(s.acc, s.acc + lanes * dim, 0.0f);
  return s;
}

void finish_tile_task(const TileScratch& s, float* const* out, int64_t lanes, int dim) {
  for (int64_t l = 0; l < lanes; ++l) {
    const float inverse = s.sum[l] > 0.0f ? 1.0f / s.sum[l] : 0.0f;
    for (int d = 0; d < dim; ++d) out[l][d] = s.acc[l * dim + d] * inverse;
  }
}

}  // namespace vcap::tensor::cpu
