#include "pipeline/file_sync.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/test_dir.h"

namespace vcap::pipeline {
namespace {

using testing::TestDir;

TEST(RankLock, ASecondHolderIsRefusedAndToldWhoHoldsItUntilTheFirstLetsGo) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.rank0-of-1.lock";
  {
    Result<RankLock> first = RankLock::try_acquire(path);
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    ASSERT_TRUE(first->held());
    EXPECT_TRUE(first->enforced());
    Result<RankLock> second = RankLock::try_acquire(path);
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(second->held());
    EXPECT_NE(second->holder().find(" " + std::to_string(::getpid())), std::string::npos)
        << second->holder();
    RankLock moved = std::move(*first);
    EXPECT_FALSE(RankLock::try_acquire(path)->held());
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // removed by its holder
  EXPECT_TRUE(RankLock::try_acquire(path)->held());
}

TEST(RankLock, TheLockOfAProcessKilledBySigkillIsFreeAtOnce) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.rank0-of-1.lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    Result<RankLock> lock = RankLock::try_acquire(path);
    const char held = lock.ok() && lock->held() ? '1' : '0';
    (void)::write(ready[1], &held, 1);
    ::pause();
    ::_exit(0);
  }
  char held = 0;
  ASSERT_EQ(::read(ready[0], &held, 1), 1);
  EXPECT_EQ(held, '1');
  EXPECT_FALSE(RankLock::try_acquire(path)->held());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(std::filesystem::exists(path));  // left behind, with the dead holder's name
  Result<RankLock> after = RankLock::try_acquire(path);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->held());
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace vcap::pipeline
