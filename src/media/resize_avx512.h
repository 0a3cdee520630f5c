// AVX-512 kernels of BicubicResizer (resize.cpp); internal to src/media.
//
// They compute every output value exactly as the portable loops do: out = t0 * w0, then
// out = fma(t_j, w_j, out) for the next taps in order, in float32, and the same clamp and round
// half to even. Only the layout of the work differs: the horizontal pass runs 16 input rows at
// once (one row per lane, every lane with the same weights), the vertical pass 16 output
// columns at once, so the bytes are identical and no gather is needed.
// REQUIRES (every function): cpu_has_avx512() is true.
#ifndef VCAP_MEDIA_RESIZE_AVX512_H_
#define VCAP_MEDIA_RESIZE_AVX512_H_

#include <cstddef>
#include <cstdint>

#include "media/resize.h"

namespace vcap::media::detail {

constexpr int64_t kAvx512Lanes = 16;  // float32 lanes of a 512-bit vector

// AVX-512 F, BW and VL (the masked byte loads need BW and VL).
bool cpu_has_avx512();

// Converts the first `bytes` bytes of 16 rows to float, transposed: block[i * 16 + r] = rows[r][i].
// Reads no byte past rows[r] + bytes. block: [bytes, 16] floats, 64-byte aligned.
void transpose_rows_avx512(const uint8_t* const* rows, int64_t bytes, float* block);

// The horizontal pass of one block made by transpose_rows_avx512 from 16 packed RGB rows:
// out[c * plane + r * taps.out_size + x] = sum over the taps of output x of channel c of row r,
// for r < rows (the other lanes are computed and dropped).
void horizontal_avx512(const float* block, const AxisTaps& taps, int64_t rows, float* out,
                       size_t plane);

// One output row of one channel: out[x] = clamp-round(sum_j w[j] * rows[j][x]) for x < width.
void vertical_avx512(const float* const* rows, int64_t count, const float* w, int64_t width,
                     uint8_t* out);

}  // namespace vcap::media::detail

#endif  // VCAP_MEDIA_RESIZE_AVX512_H_
