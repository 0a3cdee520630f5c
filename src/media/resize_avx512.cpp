#include "media/resize_avx512.h"

#include <algorithm>

#include "base/x86_intrinsics.h"

// Every function here is built for AVX-512 only (gnu::target), not the whole file or project:
// the caller picks these kernels at run time, after cpu_has_avx512().
namespace vcap::media::detail {
namespace {

// Lanes [0, n) set.
[[gnu::target("avx512f,avx512bw,avx512vl")]] inline __mmask16 first_lanes(int64_t n) {
  return n >= kAvx512Lanes ? static_cast<__mmask16>(0xFFFF)
                           : static_cast<__mmask16>((1u << n) - 1u);
}

// In place 16x16 transpose: afterwards v[i] lane j holds what v[j] lane i held.
[[gnu::target("avx512f,avx512bw,avx512vl")]] inline void transpose16(__m512 v[16]) {
  // Pairs of rows interleaved within 128-bit lanes: t[2i] = a0 b0 a1 b1, t[2i+1] = a2 b2 a3 b3.
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  // Quads of rows: q[4i+k] lane l (128 bits) = column 4l+k of rows 4i..4i+3.
  __m512 q[16];
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]);
    const __m512d b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d d = _mm512_castps_pd(t[4 * i + 3]);
    q[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    q[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    q[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    q[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Column 4l+k gathers 128-bit lane l of q[k], q[4+k], q[8+k], q[12+k] (a 4x4 lane transpose).
  for (int k = 0; k < 4; ++k) {
    const __m512 u0 = _mm512_shuffle_f32x4(q[k], q[4 + k], 0x44);       // q0.l0 q0.l1 q1.l0 q1.l1
    const __m512 u1 = _mm512_shuffle_f32x4(q[k], q[4 + k], 0xEE);       // q0.l2 q0.l3 q1.l2 q1.l3
    const __m512 u2 = _mm512_shuffle_f32x4(q[8 + k], q[12 + k], 0x44);  // q2.l0 q2.l1 q3.l0 q3.l1
    const __m512 u3 = _mm512_shuffle_f32x4(q[8 + k], q[12 + k], 0xEE);  // q2.l2 q2.l3 q3.l2 q3.l3
    v[k] = _mm512_shuffle_f32x4(u0, u2, 0x88);                          // lanes 0 of q0..q3
    v[4 + k] = _mm512_shuffle_f32x4(u0, u2, 0xDD);                      // lanes 1
    v[8 + k] = _mm512_shuffle_f32x4(u1, u3, 0x88);                      // lanes 2
    v[12 + k] = _mm512_shuffle_f32x4(u1, u3, 0xDD);                     // lanes 3
  }
}

struct Rgb512 {
  __m512 red;
  __m512 green;
  __m512 blue;
};

// In place 16x16 byte transpose: afterwards v[i] byte j holds what v[j] byte i held. Four rounds
// of interleaving (8, 16, 32, 64 bits) on 128-bit registers, cheaper than shuffling floats.
[[gnu::target("avx512f,avx512bw,avx512vl")]] inline void transpose16_bytes(__m128i v[16]) {
  __m128i b[16];  // b[2p], b[2p+1]: rows 2p and 2p+1 interleaved, columns 0-7 and 8-15
  for (int p = 0; p < 8; ++p) {
    b[2 * p] = _mm_unpacklo_epi8(v[2 * p], v[2 * p + 1]);
    b[2 * p + 1] = _mm_unpackhi_epi8(v[2 * p], v[2 * p + 1]);
  }
  __m128i c[16];  // c[4q+m]: columns 4m..4m+3 of rows 4q..4q+3
  for (int q = 0; q < 4; ++q) {
    c[4 * q] = _mm_unpacklo_epi16(b[4 * q], b[4 * q + 2]);
    c[4 * q + 1] = _mm_unpackhi_epi16(b[4 * q], b[4 * q + 2]);
    c[4 * q + 2] = _mm_unpacklo_epi16(b[4 * q + 1], b[4 * q + 3]);
    c[4 * q + 3] = _mm_unpackhi_epi16(b[4 * q + 1], b[4 * q + 3]);
  }
  __m128i d[16];  // d[8s+n]: columns 2n and 2n+1 of rows 8s..8s+7
  for (int s = 0; s < 2; ++s) {
    for (int m = 0; m < 4; ++m) {
      d[8 * s + 2 * m] = _mm_unpacklo_epi32(c[8 * s + m], c[8 * s + 4 + m]);
      d[8 * s + 2 * m + 1] = _mm_unpackhi_epi32(c[8 * s + m], c[8 * s + 4 + m]);
    }
  }
  for (int n = 0; n < 8; ++n) {  // column 2n and 2n+1 of all 16 rows
    v[2 * n] = _mm_unpacklo_epi64(d[n], d[8 + n]);
    v[2 * n + 1] = _mm_unpackhi_epi64(d[n], d[8 + n]);
  }
}

// Sums of the taps of output column x for the 16 rows of a transposed block, one vector per
// channel (the three share the taps and form three independent chains of multiply-adds).
[[gnu::target("avx512f,avx512bw,avx512vl")]] inline Rgb512 tap_sums(const float* block,
                                                                    const AxisTaps& taps,
                                                                    int64_t x) {
  const int64_t first = taps.first[static_cast<size_t>(x)];
  const int64_t count = taps.count[static_cast<size_t>(x)];
  const float* w = &taps.weights[static_cast<size_t>(x * taps.max_taps)];
  const float* in = block + first * 3 * kAvx512Lanes;
  const __m512 w0 = _mm512_set1_ps(w[0]);
  __m512 red = _mm512_mul_ps(_mm512_load_ps(in), w0);
  __m512 green = _mm512_mul_ps(_mm512_load_ps(in + kAvx512Lanes), w0);
  __m512 blue = _mm512_mul_ps(_mm512_load_ps(in + 2 * kAvx512Lanes), w0);
  for (int64_t j = 1; j < count; ++j) {
    const float* tap = in + j * 3 * kAvx512Lanes;
    const __m512 wj = _mm512_set1_ps(w[j]);
    red = _mm512_fmadd_ps(_mm512_load_ps(tap), wj, red);
    green = _mm512_fmadd_ps(_mm512_load_ps(tap + kAvx512Lanes), wj, green);
    blue = _mm512_fmadd_ps(_mm512_load_ps(tap + 2 * kAvx512Lanes), wj, blue);
  }
  return {red, green, blue};
}

// Clamp to [0, 255], round half to even (the default MXCSR mode, made explicit) and store the
// lanes set in `mask` as bytes.
[[gnu::target("avx512f,avx512bw,avx512vl")]] inline void store_u8(uint8_t* out, __mmask16 mask,
                                                                  __m512 acc) {
  const __m512 clamped =
      _mm512_min_ps(_mm512_max_ps(acc, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
  const __m512i rounded =
      _mm512_cvt_roundps_epi32(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm512_mask_cvtepi32_storeu_epi8(out, mask, rounded);
}

}  // namespace

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

[[gnu::target("avx512f,avx512bw,avx512vl")]] void transpose_rows_avx512(const uint8_t* const* rows,
                                                                        int64_t bytes,
                                                                        float* block) {
  for (int64_t i = 0; i < bytes; i += kAvx512Lanes) {
    const int64_t n = std::min(kAvx512Lanes, bytes - i);
    const __mmask16 mask = first_lanes(n);  // masked-off bytes are not read
    __m128i v[16];
    for (int r = 0; r < 16; ++r) v[r] = _mm_maskz_loadu_epi8(mask, rows[r] + i);
    transpose16_bytes(v);
    for (int64_t k = 0; k < n; ++k) {
      _mm512_store_ps(block + (i + k) * kAvx512Lanes,
                      _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v[k])));
    }
  }
}

[[gnu::target("avx512f,avx512bw,avx512vl")]] void horizontal_avx512(const float* block,
                                                                    const AxisTaps& taps,
                                                                    int64_t rows, float* out,
                                                                    size_t plane) {
  const int64_t out_w = taps.out_size;
  for (int64_t x0 = 0; x0 < out_w; x0 += kAvx512Lanes) {
    // Per channel, 16 columns of 16 rows, turned into 16 rows of 16 columns for contiguous
    // stores.
    const int64_t n = std::min(kAvx512Lanes, out_w - x0);
    __m512 tile[3][16];
    for (int64_t i = 0; i < n; ++i) {
      const Rgb512 sums = tap_sums(block, taps, x0 + i);
      tile[0][i] = sums.red;
      tile[1][i] = sums.green;
      tile[2][i] = sums.blue;
    }
    const __mmask16 mask = first_lanes(n);
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = n; i < kAvx512Lanes; ++i) tile[c][i] = _mm512_setzero_ps();
      transpose16(tile[c]);
      float* dst = out + c * static_cast<int64_t>(plane) + x0;
      for (int64_t r = 0; r < rows; ++r) _mm512_mask_storeu_ps(dst + r * out_w, mask, tile[c][r]);
    }
  }
}

[[gnu::target("avx512f,avx512bw,avx512vl")]] void vertical_avx512(const float* const* rows,
                                                                  int64_t count, const float* w,
                                                                  int64_t width, uint8_t* out) {
  int64_t x = 0;
  // 64 columns at a time: four independent chains of fused multiply-adds hide their latency.
  for (; x + 4 * kAvx512Lanes <= width; x += 4 * kAvx512Lanes) {
    __m512 acc[4];
    const __m512 w0 = _mm512_set1_ps(w[0]);
    for (int k = 0; k < 4; ++k) acc[k] = _mm512_mul_ps(_mm512_loadu_ps(rows[0] + x + 16 * k), w0);
    for (int64_t j = 1; j < count; ++j) {
      const float* row = rows[j] + x;
      const __m512 wj = _mm512_set1_ps(w[j]);
      for (int k = 0; k < 4; ++k) {
        acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(row + 16 * k), wj, acc[k]);
      }
    }
    for (int k = 0; k < 4; ++k) store_u8(out + x + 16 * k, 0xFFFF, acc[k]);
  }
  for (; x < width; x += kAvx512Lanes) {
    const __mmask16 mask = first_lanes(width - x);
    __m512 acc = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, rows[0] + x), _mm512_set1_ps(w[0]));
    for (int64_t j = 1; j < count; ++j) {
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, rows[j] + x), _mm512_set1_ps(w[j]), acc);
    }
    store_u8(out + x, mask, acc);
  }
}

}  // namespace vcap::media::detail
