#include "pipeline/file_sync.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "pipeline/test_dir.h"

namespace vcap::pipeline {
namespace {

using testing::TestDir;

TEST(ProcessLock, ASecondHolderIsRefusedAndToldWhoHoldsItUntilTheFirstLetsGo) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.rank0-of-1.lock";
  {
    Result<ProcessLock> first = ProcessLock::try_acquire(path);
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    ASSERT_TRUE(first->held());
    EXPECT_TRUE(first->enforced());
    Result<ProcessLock> second = ProcessLock::try_acquire(path);
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(second->held());
    EXPECT_NE(second->holder().find(" " + std::to_string(::getpid())), std::string::npos)
        << second->holder();
    ProcessLock moved = std::move(*first);
    EXPECT_FALSE(ProcessLock::try_acquire(path)->held());
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // removed by its holder
  EXPECT_TRUE(ProcessLock::try_acquire(path)->held());
}

TEST(ProcessLock, TheLockOfAProcessKilledBySigkillIsFreeAtOnce) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.rank0-of-1.lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    Result<ProcessLock> lock = ProcessLock::try_acquire(path);
    const char held = lock.ok() && lock->held() ? '1' : '0';
    (void)::write(ready[1], &held, 1);
    ::pause();
    ::_exit(0);
  }
  char held = 0;
  ASSERT_EQ(::read(ready[0], &held, 1), 1);
  EXPECT_EQ(held, '1');
  EXPECT_FALSE(ProcessLock::try_acquire(path)->held());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(std::filesystem::exists(path));  // left behind, with the dead holder's name
  Result<ProcessLock> after = ProcessLock::try_acquire(path);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->held());
  ::close(ready[0]);
  ::close(ready[1]);
}

// The merge's lock where flock is missing: exclusive while held, named when refused, and taken
// over when its holder was a process of this host that is gone.
TEST(LockFile, ExcludesASecondHolderAndTakesOverTheFileOfADeadLocalProcess) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.merge.lock";
  {
    Result<LockFile> first = LockFile::try_acquire(path);
    ASSERT_TRUE(first.ok() && first->held());
    Result<LockFile> second = LockFile::try_acquire(path);
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(second->held());
    EXPECT_NE(second->holder().find(" " + std::to_string(::getpid())), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  testing::write_text(path, std::string(host) + " " + std::to_string(gone) + "\n");
  EXPECT_TRUE(LockFile::try_acquire(path)->held());
  testing::write_text(path, "otherhost 1\n");  // cannot be checked from here: left alone
  EXPECT_FALSE(LockFile::try_acquire(path)->held());
}

// flock on a filesystem mounted without locks (Lustre's noflock, NFS's nolock).
int flock_without_locks(int, int) {
  errno = ENOLCK;
  return -1;
}

TEST(ProcessLock, WithoutFileLocksItIsUnenforcedAndLeavesAFileThatWasThere) {
  TestDir dir;
  const std::filesystem::path path = dir.path() / "out.csv.merge.lock";
  Result<ProcessLock> probe = ProcessLock::try_acquire(path, flock_without_locks);
  ASSERT_TRUE(probe.ok()) << probe.status().to_string();
  EXPECT_TRUE(probe->held());
  EXPECT_FALSE(probe->enforced());
  EXPECT_FALSE(std::filesystem::exists(path));  // the file it made for the try

  testing::write_text(path, "otherhost 42\n");  // another process's lock file
  Result<ProcessLock> beside = ProcessLock::try_acquire(path, flock_without_locks);
  ASSERT_TRUE(beside.ok());
  EXPECT_FALSE(beside->enforced());
  EXPECT_EQ(testing::read_text(path), "otherhost 42\n");
}

// Two mergers on such a filesystem: the second is refused, with the first named, until the first
// lets go. (The probe of the second used to remove the first's lock file and merge beside it.)
TEST(MergeLock, WithoutFileLocksTheExclusiveFileKeepsASecondMergerOut) {
  TestDir dir;
  const std::filesystem::path output = dir.path() / "out.csv";
  {
    Result<MergeLock> first = lock_merge(output, flock_without_locks);
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    ASSERT_TRUE(first->held);
    EXPECT_TRUE(first->exclusive.has_value());
    Result<MergeLock> second = lock_merge(output, flock_without_locks);
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_FALSE(second->held);
    EXPECT_NE(second->holder.find(" " + std::to_string(::getpid())), std::string::npos)
        << second->holder;
  }
  Result<MergeLock> after = lock_merge(output, flock_without_locks);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->held);
}

}  // namespace
}  // namespace vcap::pipeline
