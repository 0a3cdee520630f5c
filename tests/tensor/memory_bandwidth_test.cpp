#include "tensor/cpu/memory_bandwidth.h"

#include <gtest/gtest.h>

namespace vcap::tensor {
namespace {

TEST(MemoryBandwidth, CopyAndReadRatesArePositiveForAnyThreadCount) {
  for (int threads : {1, 2, 3}) {
    EXPECT_GT(measure_memory_bandwidth_gbs(threads, size_t{8} << 20, 2), 0.0) << threads;
    // The read loop checks its own sum: 0 would mean a chunk was skipped.
    EXPECT_GT(measure_read_bandwidth_gbs(threads, size_t{8} << 20, 2), 0.0) << threads;
  }
  EXPECT_GT(measure_read_bandwidth_gbs(2, 1000, 1), 0.0);  // not a multiple of a cache line
}

TEST(MemoryBandwidth, EmptyBufferGivesZero) {
  EXPECT_EQ(measure_memory_bandwidth_gbs(1, 0, 1), 0.0);
  EXPECT_EQ(measure_read_bandwidth_gbs(1, 0, 1), 0.0);
}

}  // namespace
}  // namespace vcap::tensor
