#include "base/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace vcap {
namespace {

TEST(HugePages, ReservedVectorStaysEmptyAndHoldsWhatIsWritten) {
  std::vector<uint16_t> values;
  const size_t count = (size_t{5} << 20) + 3;  // over two huge pages, not a multiple of one
  reserve_on_huge_pages(values, count);
  EXPECT_TRUE(values.empty());
  ASSERT_GE(values.capacity(), count);
  const uint16_t* data = values.data();
  values.resize(count);
  EXPECT_EQ(values.data(), data);  // no reallocation: the advised memory is the one used
  for (size_t i = 0; i < count; ++i) values[i] = static_cast<uint16_t>(i * 7);
  for (size_t i = 0; i < count; i += 4099) ASSERT_EQ(values[i], static_cast<uint16_t>(i * 7));
}

TEST(HugePages, AdviceOnSmallOrMissingBuffersChangesNothing) {
  advise_huge_pages(nullptr, size_t{8} << 20);
  std::vector<float> small(100, 1.5f);
  advise_huge_pages(small.data(), small.size() * sizeof(float));  // inside one huge page
  for (float x : small) EXPECT_EQ(x, 1.5f);
  std::vector<float> none;
  reserve_on_huge_pages(none, 0);
  EXPECT_TRUE(none.empty());
}

TEST(HugePages, ReservingMoreForAVectorInUseKeepsItsElements) {
  std::vector<float> frames(1000, 2.5f);  // a second decoding pass adds to the first's frames
  reserve_on_huge_pages(frames, size_t{3} << 20);
  ASSERT_GE(frames.capacity(), size_t{3} << 20);
  ASSERT_EQ(frames.size(), 1000u);
  for (float x : frames) ASSERT_EQ(x, 2.5f);
}

}  // namespace
}  // namespace vcap
