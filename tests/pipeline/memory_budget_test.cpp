#include "pipeline/memory_budget.h"

#include <gtest/gtest.h>

#include "pipeline/test_dir.h"

namespace vcap::pipeline {
namespace {

using testing::TestDir;

TEST(ReadMemAvailable, ReadsTheMemAvailableLine) {
  TestDir dir;
  testing::write_text(
      dir.path() / "meminfo",
      "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n");
  Result<uint64_t> available = read_mem_available_bytes(dir.path() / "meminfo");
  ASSERT_TRUE(available.ok());
  EXPECT_EQ(*available, 8000000ull * 1024);
  testing::write_text(dir.path() / "bad", "MemTotal: 1 kB\n");
  EXPECT_FALSE(read_mem_available_bytes(dir.path() / "bad").ok());
  EXPECT_FALSE(read_mem_available_bytes(dir.path() / "none").ok());
}

// A container's memory limit (docker --memory 16g on a 256 GB host) bounds the free memory the
// budgets are shares of: the limit less what is in use, the reclaimable file cache excepted.
TEST(CgroupMemoryLeft, IsTheLimitLessWhatIsInUse) {
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  EXPECT_EQ(cgroup_memory_left("17179869184\n", "4294967296\n",
                               "anon 3221225472\ninactive_file 1073741824\nactive_file 5\n"),
            16 * kGiB - 3 * kGiB);
  // cgroup v1's names; its "no limit" is 2^63 rounded down to pages.
  EXPECT_EQ(cgroup_memory_left("8589934592\n", "1073741824\n", "total_inactive_file 0\n"),
            7 * kGiB);
  EXPECT_FALSE(cgroup_memory_left("9223372036854771712\n", "1073741824\n", "").has_value());
  EXPECT_FALSE(cgroup_memory_left("max\n", "1073741824\n", "").has_value());  // v2: none
  EXPECT_FALSE(cgroup_memory_left("", "", "").has_value());                   // no such files
  EXPECT_EQ(cgroup_memory_left("1073741824\n", "2147483648\n", ""), 0u);      // over the limit
  // On this machine: never more than MemAvailable.
  Result<uint64_t> host = read_host_available_bytes();
  ASSERT_TRUE(host.ok()) << host.status().to_string();
  EXPECT_LE(*host, *read_mem_available_bytes() + (uint64_t{64} << 20));
}

TEST(DefaultCpuBudget, IsEightyPercentOfFreeMemoryMinusWeights) {
  EXPECT_EQ(default_budget_bytes(1000, 300), 500u);
  EXPECT_EQ(default_budget_bytes(1000, 900), 0u);
}

TEST(DefaultPrefetchBytes, IsHalfTheHostMemoryTheBudgetLeavesSharedByTheProcesses) {
  EXPECT_EQ(default_prefetch_bytes(1000, 0, 1), 500u);    // a GPU run: its budget is not host
  EXPECT_EQ(default_prefetch_bytes(1000, 800, 1), 100u);  // a CPU run's budget comes out first
  EXPECT_EQ(default_prefetch_bytes(1000, 0, 4), 125u);
  EXPECT_EQ(default_prefetch_bytes(1000, 2000, 2), 0u);
  EXPECT_EQ(default_prefetch_bytes(1000, 0, 0), 500u);
}

TEST(FitCandidates, LowerFpsToOneThenPixelsToTheVideoMinimumThenFps) {
  ClipSettings requested{4.0, 448 * 672, 0, 0};
  std::vector<ClipSettings> candidates = fit_candidates(requested);
  ASSERT_GE(candidates.size(), 4u);
  EXPECT_EQ(candidates[0].fps, 2.0);
  EXPECT_EQ(candidates[1].fps, 1.0);
  EXPECT_EQ(candidates[1].max_pixels, 448 * 672);
  EXPECT_LT(candidates[2].max_pixels, 448 * 672);
  EXPECT_EQ(candidates[2].fps, 1.0);
  EXPECT_EQ(candidates.back().fps, 0.125);
  EXPECT_EQ(candidates.back().max_pixels, 128 * 28 * 28);
  for (size_t i = 1; i < candidates.size(); ++i) {
    const bool smaller = candidates[i].fps < candidates[i - 1].fps ||
                         candidates[i].max_pixels < candidates[i - 1].max_pixels;
    EXPECT_TRUE(smaller) << "candidate " << i;
  }
}

TEST(FitCandidates, ShrinksBothSidesInExactSizeMode) {
  ClipSettings requested{1.0, 0, 448, 672};
  std::vector<ClipSettings> candidates = fit_candidates(requested);
  ASSERT_FALSE(candidates.empty());
  EXPECT_LT(candidates[0].exact_height, 448);
  EXPECT_LT(candidates[0].exact_width, 672);
  EXPECT_EQ(candidates[0].exact_height % 28, 0);
  EXPECT_EQ(candidates[0].exact_width % 28, 0);
}

TEST(DescribeFit, SaysWhatWasUsedAndWhatWasAsked) {
  const std::string note = describe_fit({2.0, 150528, 0, 0}, {4.0, 301056, 0, 0}, 8ull << 30);
  EXPECT_EQ(note,
            "fitted to the 8.0 GiB budget: fps 2 (asked 4), max_pixels 150528 (asked 301056)");
}

}  // namespace
}  // namespace vcap::pipeline
