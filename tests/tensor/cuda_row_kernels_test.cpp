// The GPU's norm, rotary, activation, add and data-movement kernels (src/tensor/cuda/
// row_kernels.h) in the SIMT emulator on the CPU: against the double references, bf16 outputs
// bit for bit the f32 ones rounded, conversions bit for bit those of tensor/dtype.h, and grids
// smaller than the work (the grid-stride paths a GPU takes only past 2^30 rows or 65535 column
// chunks). On a GPU the same ops run through the CUDA backend in tests/gpu/ops_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "backend_test_util.h"
#include "simt_emulator.h"
#include "tensor/cuda/row_kernels.h"
#include "tensor/dtype.h"

namespace vcap::tensor::testing {
namespace {

using cuda::Bf16;
using cuda::BlockPlace;
using cuda::Matrix;

// Runs body(place, scratch) for every block of an x_count by y_count grid, as one launch.
void emulate(int64_t x_count, int64_t y_count,
             const std::function<void(BlockPlace, float* scratch)>& body) {
  cuda::simt::emulate_grid(static_cast<int>(x_count * y_count), cuda::kRowThreads,
                           cuda::kBlockSumWords, [&](int block, uint32_t* shared) {
                             body(BlockPlace{block % x_count, x_count, block / x_count, y_count},
                                  reinterpret_cast<float*>(shared));
                           });
}

template <class T>
Matrix<T> matrix(std::vector<T>& values, int64_t rows, int64_t cols, int64_t stride = -1) {
  return Matrix<T>{values.data(), rows, cols, stride < 0 ? cols : stride};
}

template <class T>
Matrix<const T> constant(const std::vector<T>& values, int64_t rows, int64_t cols,
                         int64_t stride = -1) {
  return Matrix<const T>{values.data(), rows, cols, stride < 0 ? cols : stride};
}

// Every bf16 output must be its f32 twin rounded: the kernels compute in f32 either way.
void expect_rounded_from(const std::vector<Bf16>& bf16, const std::vector<float>& f32) {
  ASSERT_EQ(bf16.size(), f32.size());
  for (size_t i = 0; i < f32.size(); ++i) {
    ASSERT_EQ(bf16[i].bits, f32_to_bf16(f32[i])) << "element " << i << " of " << f32.size();
  }
}

constexpr int64_t kRows = 5;
// Each thread takes several columns, or groups of four, and the last pass only some threads.
constexpr int64_t kCols = 1100;
// Every kernel that may take its columns four at a time runs both ways.
constexpr bool kOneOrFour[] = {false, true};

const char* way(bool fours) { return fours ? "four columns at a time" : "one column at a time"; }

TEST(CudaRowKernels, NormsMatchTheReferenceAndRoundTheSameValuesToBf16) {
  const auto x = random_values(kRows * kCols, 1, -2.0f, 3.0f);
  const auto w = random_values(kCols, 2);
  const auto b = random_values(kCols, 3);
  const float eps = 1e-6f;
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    // Two row blocks for five rows: blocks take rows x, x + 2, ...
    std::vector<float> layer(x.size(), NAN);
    std::vector<Bf16> layer_bf16(x.size(), Bf16{0xffff});
    emulate(2, 1, [&](BlockPlace place, float* scratch) {
      cuda::layer_norm_block(matrix(layer, kRows, kCols), constant(x, kRows, kCols), w.data(),
                             b.data(), eps, fours, place, scratch);
      cuda::layer_norm_block(matrix(layer_bf16, kRows, kCols), constant(x, kRows, kCols), w.data(),
                             b.data(), eps, fours, place, scratch);
    });
    expect_close(layer, reference_layer_norm(x, w, b, kRows, kCols, eps), 1e-5);
    expect_rounded_from(layer_bf16, layer);

    std::vector<float> rms(x.size(), NAN);
    std::vector<Bf16> rms_bf16(x.size(), Bf16{0xffff});
    emulate(2, 1, [&](BlockPlace place, float* scratch) {
      cuda::rms_norm_block(matrix(rms, kRows, kCols), constant(x, kRows, kCols), w.data(), eps,
                           fours, place, scratch);
      cuda::rms_norm_block(matrix(rms_bf16, kRows, kCols), constant(x, kRows, kCols), w.data(), eps,
                           fours, place, scratch);
    });
    expect_close(rms, reference_rms_norm(x, w, kRows, kCols, eps), 1e-5);
    expect_rounded_from(rms_bf16, rms);
  }
}

TEST(CudaRowKernels, NormsInPlaceGiveTheSameBits) {
  const auto x = random_values(kRows * kCols, 4, -2.0f, 3.0f);
  const auto w = random_values(kCols, 5);
  const auto b = random_values(kCols, 6);
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    std::vector<float> apart(x.size());
    std::vector<float> in_place = x;
    std::vector<float> rms_apart(x.size());
    std::vector<float> rms_in_place = x;
    emulate(kRows, 1, [&](BlockPlace place, float* scratch) {
      cuda::layer_norm_block(matrix(apart, kRows, kCols), constant(x, kRows, kCols), w.data(),
                             b.data(), 1e-6f, fours, place, scratch);
      cuda::layer_norm_block(matrix(in_place, kRows, kCols), constant(in_place, kRows, kCols),
                             w.data(), b.data(), 1e-6f, fours, place, scratch);
      cuda::rms_norm_block(matrix(rms_apart, kRows, kCols), constant(x, kRows, kCols), w.data(),
                           1e-6f, fours, place, scratch);
      cuda::rms_norm_block(matrix(rms_in_place, kRows, kCols), constant(rms_in_place, kRows, kCols),
                           w.data(), 1e-6f, fours, place, scratch);
    });
    EXPECT_EQ(in_place, apart);
    EXPECT_EQ(rms_in_place, rms_apart);
  }
}

// One warp per row (rows of up to kWarpRowColumns columns, four at a time): two blocks of
// kRowWarps rows for 19 rows, so that the blocks walk on past their first rows; widths that end
// inside a lane's fours and that fill every lane; in place and into bf16.
TEST(CudaRowKernels, NormsWithAWarpPerRowMatchTheReference) {
  const int64_t rows = 19;
  for (const int64_t cols : {int64_t{1100}, int64_t{36}, cuda::kWarpRowColumns}) {
    SCOPED_TRACE(::testing::Message() << cols << " columns");
    const auto x = random_values(rows * cols, 30, -2.0f, 3.0f);
    const auto w = random_values(cols, 31);
    const auto b = random_values(cols, 32);
    const float eps = 1e-6f;
    std::vector<float> layer(x.size(), NAN);
    std::vector<Bf16> layer_bf16(x.size(), Bf16{0xffff});
    std::vector<float> layer_in_place = x;
    std::vector<float> rms(x.size(), NAN);
    std::vector<Bf16> rms_bf16(x.size(), Bf16{0xffff});
    std::vector<float> rms_in_place = x;
    emulate(2, 1, [&](BlockPlace place, float*) {
      const auto in = constant(x, rows, cols);
      cuda::layer_norm_warp_rows(matrix(layer, rows, cols), in, w.data(), b.data(), eps, place);
      cuda::layer_norm_warp_rows(matrix(layer_bf16, rows, cols), in, w.data(), b.data(), eps,
                                 place);
      cuda::layer_norm_warp_rows(matrix(layer_in_place, rows, cols),
                                 constant(layer_in_place, rows, cols), w.data(), b.data(), eps,
                                 place);
      cuda::rms_norm_warp_rows(matrix(rms, rows, cols), in, w.data(), eps, place);
      cuda::rms_norm_warp_rows(matrix(rms_bf16, rows, cols), in, w.data(), eps, place);
      cuda::rms_norm_warp_rows(matrix(rms_in_place, rows, cols), constant(rms_in_place, rows, cols),
                               w.data(), eps, place);
    });
    expect_close(layer, reference_layer_norm(x, w, b, rows, cols, eps), 1e-5);
    expect_rounded_from(layer_bf16, layer);
    EXPECT_EQ(layer_in_place, layer);
    expect_close(rms, reference_rms_norm(x, w, rows, cols, eps), 1e-5);
    expect_rounded_from(rms_bf16, rms);
    EXPECT_EQ(rms_in_place, rms);
  }
}

// q and k heads of a wider qkv row (a column slice): the columns beyond stay as they were. Four
// pairs at a time needs rows of a multiple of 4 floats; one at a time takes any.
TEST(CudaRowKernels, RotaryTurnsEveryHeadOfAColumnSlice) {
  const int heads = 3;
  const int head_dim = 16;
  const int64_t width = heads * head_dim;
  const auto x = random_values(kRows * width, 7);
  const auto cos = random_values(kRows * head_dim / 2, 8);
  const auto sin = random_values(kRows * head_dim / 2, 9);
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    const int64_t stride = width + (fours ? 4 : 5);
    std::vector<float> wide(static_cast<size_t>(kRows * stride), 42.0f);
    for (int64_t r = 0; r < kRows; ++r) {
      std::copy_n(x.begin() + r * width, width, wide.begin() + r * stride);
    }
    emulate(2, 1, [&](BlockPlace place, float*) {
      cuda::rotary_block(matrix(wide, kRows, width, stride), constant(cos, kRows, head_dim / 2),
                         constant(sin, kRows, head_dim / 2), heads, head_dim, fours, place);
    });
    expect_close(host_columns(wide, kRows, stride, 0, width),
                 reference_rotary(x, cos, sin, kRows, heads, head_dim), 1e-6);
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t c = width; c < stride; ++c) EXPECT_EQ(wide[r * stride + c], 42.0f);
    }
  }
}

// Rows of 2400 columns are 10 chunks of columns, or 3 chunks of fours; a grid of 2 chunks makes
// the threads stride on either way.
constexpr int64_t kWideCols = 2400;

template <Activation kKind>
void check_activation(bool fours) {
  const auto x = random_values(kRows * kWideCols, 10, -6.0f, 6.0f);
  std::vector<double> expected;
  for (float v : x) expected.push_back(reference_activation(v, kKind));
  std::vector<float> out(x.size(), NAN);
  std::vector<Bf16> out_bf16(x.size(), Bf16{0xffff});
  std::vector<float> in_place = x;
  emulate(2, 2, [&](BlockPlace place, float*) {
    cuda::activation_block<kKind>(matrix(out, kRows, kWideCols), constant(x, kRows, kWideCols),
                                  fours, place);
    cuda::activation_block<kKind>(matrix(out_bf16, kRows, kWideCols), constant(x, kRows, kWideCols),
                                  fours, place);
    cuda::activation_block<kKind>(matrix(in_place, kRows, kWideCols),
                                  constant(in_place, kRows, kWideCols), fours, place);
  });
  expect_close(out, expected, 1e-6);
  expect_rounded_from(out_bf16, out);
  EXPECT_EQ(in_place, out);
}

TEST(CudaRowKernels, ActivationsMatchTheirFormulas) {
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    check_activation<Activation::kGeluErf>(fours);
    check_activation<Activation::kQuickGelu>(fours);
    check_activation<Activation::kSilu>(fours);
  }
}

// gate and up are the two halves of one gate_up row, as the decoder's GEMM leaves them.
TEST(CudaRowKernels, SiluMulReadsBothHalvesOfOneMatrix) {
  const auto gate_up = random_values(kRows * 2 * kWideCols, 11, -5.0f, 5.0f);
  std::vector<double> expected;
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t c = 0; c < kWideCols; ++c) {
      const double g = gate_up[r * 2 * kWideCols + c];
      const double u = gate_up[r * 2 * kWideCols + kWideCols + c];
      expected.push_back(reference_activation(g, Activation::kSilu) * u);
    }
  }
  const Matrix<const float> gate{gate_up.data(), kRows, kWideCols, 2 * kWideCols};
  const Matrix<const float> up{gate_up.data() + kWideCols, kRows, kWideCols, 2 * kWideCols};
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    std::vector<float> out(kRows * kWideCols, NAN);
    std::vector<Bf16> out_bf16(out.size(), Bf16{0xffff});
    emulate(3, 2, [&](BlockPlace place, float*) {
      cuda::silu_mul_block(matrix(out, kRows, kWideCols), gate, up, fours, place);
      cuda::silu_mul_block(matrix(out_bf16, kRows, kWideCols), gate, up, fours, place);
    });
    expect_close(out, expected, 1e-6);
    expect_rounded_from(out_bf16, out);
  }
}

// A bias is added as a matrix of row stride 0 (launch_add_bias).
TEST(CudaRowKernels, AddsAreExactF32Sums) {
  const auto a = random_values(kRows * kWideCols, 12);
  const auto b = random_values(kRows * kWideCols, 13);
  const auto bias = random_values(kWideCols, 14);
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    std::vector<float> sum = a;
    std::vector<float> biased = a;
    emulate(2, 2, [&](BlockPlace place, float*) {
      cuda::add_block(matrix(sum, kRows, kWideCols), constant(b, kRows, kWideCols), fours, place);
      cuda::add_block(matrix(biased, kRows, kWideCols), constant(bias, kRows, kWideCols, 0), fours,
                      place);
    });
    for (int64_t i = 0; i < kRows * kWideCols; ++i) {
      ASSERT_EQ(sum[i], a[i] + b[i]) << i;
      ASSERT_EQ(biased[i], a[i] + bias[i % kWideCols]) << i;
    }
  }
}

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// f32 -> bf16 rounds as tensor::f32_to_bf16 on the values rounding is hard on; bf16 -> f32
// widens exactly; same types copy the bits, NaN payloads included (a bf16 signalling NaN too).
TEST(CudaRowKernels, CopiesConvertBitForBitAsTheHostDoes) {
  std::vector<float> f32 = {0.0f,
                            -0.0f,
                            1.0f,
                            from_bits(0x3f808000u),  // a tie, rounds to even (down)
                            from_bits(0x3f818000u),  // a tie, rounds to even (up)
                            from_bits(0x3f80ffffu),
                            std::numeric_limits<float>::max(),  // rounds to infinity
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            from_bits(0x7f800001u),  // signalling NaN: comes back quiet
                            from_bits(0xffc00123u),
                            from_bits(0x00000001u)};  // smallest subnormal
  const auto random = random_values(600, 15, -1e6f, 1e6f);
  f32.insert(f32.end(), random.begin(), random.end());
  const int64_t cols = static_cast<int64_t>(f32.size());
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    std::vector<Bf16> bf16(f32.size(), Bf16{0});
    std::vector<float> back(f32.size(), 0.0f);
    std::vector<float> same(f32.size(), 0.0f);
    emulate(1, 1, [&](BlockPlace place, float*) {
      cuda::copy_block(matrix(bf16, 1, cols), constant(f32, 1, cols), fours, place);
      cuda::copy_block(matrix(same, 1, cols), constant(f32, 1, cols), fours, place);
    });
    bf16[1] = Bf16{0x7f81};  // a signalling NaN, which only a bit copy keeps
    std::vector<Bf16> bf16_again(f32.size(), Bf16{0});
    emulate(1, 2, [&](BlockPlace place, float*) {
      cuda::copy_block(matrix(back, 1, cols), constant(bf16, 1, cols), fours, place);
      cuda::copy_block(matrix(bf16_again, 1, cols), constant(bf16, 1, cols), fours, place);
    });
    for (size_t i = 0; i < f32.size(); ++i) {
      if (i != 1) {
        ASSERT_EQ(bf16[i].bits, f32_to_bf16(f32[i])) << "element " << i;
      }
      ASSERT_EQ(bits(back[i]), bits(bf16_to_f32(bf16[i].bits))) << "element " << i;
      ASSERT_EQ(bits(same[i]), bits(f32[i])) << "element " << i;
      ASSERT_EQ(bf16_again[i].bits, bf16[i].bits) << "element " << i;
    }
  }
}

// Fours only where every operand's rows start aligned for one access of four elements.
TEST(CudaRowKernels, FoursOnlyWhereEveryRowIsAligned) {
  alignas(16) static float f32[64];
  alignas(16) static uint16_t halves[64];
  using cuda::Operand;
  EXPECT_TRUE(cuda::fits_fours(8, {Operand{f32, 8, 4}, Operand{halves, 12, 2}}));
  EXPECT_TRUE(cuda::fits_fours(8, {Operand{f32 + 4, 0, 4}, Operand{halves + 4, 8, 2}}));
  EXPECT_FALSE(cuda::fits_fours(6, {Operand{f32, 8, 4}}));                          // 6 columns
  EXPECT_FALSE(cuda::fits_fours(8, {Operand{f32, 8, 4}, Operand{f32 + 2, 8, 4}}));  // 8 bytes in
  EXPECT_FALSE(cuda::fits_fours(8, {Operand{f32, 10, 4}}));                         // row stride
  EXPECT_FALSE(cuda::fits_fours(8, {Operand{halves + 2, 8, 2}}));                   // 4 bytes in
  EXPECT_TRUE(cuda::fits_fours(8, {Operand{halves + 8, 8, 2}}));
}

// A host matrix uploaded as f16 (launch_convert_host_rows): every one of the 65536 halves.
TEST(CudaRowKernels, EveryHalfWidensAsTheHostDoes) {
  std::vector<cuda::F16> halves;
  for (uint32_t h = 0; h <= 0xffffu; ++h) halves.push_back(cuda::F16{static_cast<uint16_t>(h)});
  for (bool fours : kOneOrFour) {
    SCOPED_TRACE(way(fours));
    std::vector<float> out(halves.size(), 0.0f);
    emulate(4, 1, [&](BlockPlace place, float*) {
      cuda::copy_block(matrix(out, 256, 256), constant(halves, 256, 256), fours, place);
    });
    for (uint32_t h = 0; h <= 0xffffu; ++h) {
      ASSERT_EQ(bits(out[h]), bits(f16_to_f32(static_cast<uint16_t>(h)))) << "half " << h;
    }
  }
}

// Three copies of different shapes, each into a column slice of one wide matrix (the KV-cache
// appends of a decode batch), one grid for all: y picks the copy.
TEST(CudaRowKernels, ABatchOfCopiesWritesOnlyItsSlices) {
  const int64_t stride = 700;
  std::vector<float> dst(static_cast<size_t>(6 * stride), 42.0f);
  const auto a = random_values(6 * 300, 16);
  const auto b = random_values(2 * 512, 17);
  const auto c = random_values(4 * 3, 18);
  auto* base = reinterpret_cast<std::byte*>(dst.data());
  const auto raw = [](const std::vector<float>& v) {
    return reinterpret_cast<const std::byte*>(v.data());
  };
  const std::vector<cuda::CopyDesc> copies = {
      {base, raw(a), stride, 300, 6, 300},
      {base + 300 * sizeof(float), raw(b), stride, 512, 2, 100},  // a column slice of b
      {base + (2 * stride + 600) * sizeof(float), raw(c), stride, 3, 4, 3},
  };
  const int64_t x_count = 2;
  emulate(x_count, static_cast<int64_t>(copies.size()), [&](BlockPlace place, float*) {
    cuda::copy_desc_block<float, float>(copies[place.y], BlockPlace{place.x, x_count});
  });
  std::vector<float> expected(dst.size(), 42.0f);
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t j = 0; j < 300; ++j) expected[r * stride + j] = a[r * 300 + j];
  }
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t j = 0; j < 100; ++j) expected[r * stride + 300 + j] = b[r * 512 + j];
  }
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t j = 0; j < 3; ++j) expected[(2 + r) * stride + 600 + j] = c[r * 3 + j];
  }
  EXPECT_EQ(dst, expected);
}

TEST(CudaRowKernels, CopyRowsScattersAndGatherRowsWidens) {
  const int64_t cols = 300;
  const auto src = random_values(3 * cols, 19);
  std::vector<float> dst(static_cast<size_t>(6 * cols), 42.0f);
  const std::vector<int64_t> dst_rows = {4, 0, 2};
  emulate(2, 1, [&](BlockPlace place, float*) {
    cuda::copy_rows_block(matrix(dst, 6, cols), constant(src, 3, cols), dst_rows.data(), place);
  });
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const auto it = std::find(dst_rows.begin(), dst_rows.end(), r);
      const float want = it == dst_rows.end() ? 42.0f : src[(it - dst_rows.begin()) * cols + c];
      ASSERT_EQ(dst[r * cols + c], want) << "row " << r << " column " << c;
    }
  }

  const auto table = random_values(7 * cols, 20);
  std::vector<Bf16> table_bf16;
  for (float x : table) table_bf16.push_back(Bf16{f32_to_bf16(x)});
  const std::vector<int32_t> ids = {6, 0, 6, 3};
  std::vector<float> from_f32(ids.size() * cols, NAN);
  std::vector<float> from_bf16(ids.size() * cols, NAN);
  emulate(3, 1, [&](BlockPlace place, float*) {
    cuda::gather_rows_block(matrix(from_f32, 4, cols), table.data(), ids.data(), place);
    cuda::gather_rows_block(matrix(from_bf16, 4, cols), table_bf16.data(), ids.data(), place);
  });
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(from_f32[i * cols + c], table[ids[i] * cols + c]);
      ASSERT_EQ(from_bf16[i * cols + c], bf16_to_f32(table_bf16[ids[i] * cols + c].bits));
    }
  }
}

}  // namespace
}  // namespace vcap::tensor::testing
