#include "pipeline/worker_processes.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "pipeline/test_dir.h"

namespace vcap::pipeline {
namespace {

TEST(RunWorkers, WaitsForEveryWorkerAndDescribesHowItEnded) {
  Result<std::vector<WorkerExit>> exits = run_workers({
      {"/bin/sh", "-c", "exit 0"},
      {"/bin/sh", "-c", "exit 3"},
      {"/bin/sh", "-c", "kill -9 $$"},
      {"/nonexistent/vcap"},
  });
  ASSERT_TRUE(exits.ok()) << exits.status().to_string();
  ASSERT_EQ(exits->size(), 4u);
  EXPECT_TRUE((*exits)[0].ok);
  EXPECT_FALSE((*exits)[1].ok);
  EXPECT_EQ((*exits)[1].description, "exited with status 3");
  EXPECT_EQ((*exits)[1].exit_status, 3);
  EXPECT_EQ((*exits)[2].exit_status, -1);
  EXPECT_FALSE((*exits)[2].ok);
  EXPECT_EQ((*exits)[2].description.substr(0, 18), "killed by signal 9");
  EXPECT_EQ((*exits)[3].description, "exited with status 127");  // exec failed
}

// A supervisor that ignores SIGCHLD (kept through exec) must not turn a failed worker into a
// success: with the kernel reaping them, waitpid used to fail and read as "exit status 0".
TEST(RunWorkers, AnIgnoredSigchldInheritedFromTheStarterStillReportsFailures) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &previous), 0);
  Result<std::vector<WorkerExit>> exits =
      run_workers({{"/bin/sh", "-c", "exit 0"}, {"/bin/sh", "-c", "exit 3"}});
  ::sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_TRUE(exits.ok()) << exits.status().to_string();
  ASSERT_EQ(exits->size(), 2u);
  EXPECT_TRUE((*exits)[0].ok);
  EXPECT_FALSE((*exits)[1].ok);
  EXPECT_EQ((*exits)[1].description, "exited with status 3");
}

// True once `pid` has ended (gone, or a zombie waiting for whoever adopted it).
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  return !(stat >> pid_field >> name >> state) || state == "Z";
}

TEST(RunWorkers, WorkersEndWhenTheirParentIsKilledBySigkill) {
  testing::TestDir dir;
  const std::filesystem::path pid_file = dir.path() / "worker.pid";
  const pid_t parent = ::fork();
  if (parent == 0) {
    (void)run_workers({{"/bin/sh", "-c", "echo $$ > '" + pid_file.string() + "'; exec sleep 60"}});
    ::_exit(0);
  }
  pid_t worker = 0;
  for (int i = 0; i < 1000 && worker == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(pid_file) >> worker;
  }
  ASSERT_GT(worker, 0) << "the worker did not start";
  EXPECT_FALSE(ended(worker));
  ::kill(parent, SIGKILL);
  ::waitpid(parent, nullptr, 0);
  for (int i = 0; i < 500 && !ended(worker); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(ended(worker)) << "worker " << worker << " outlived its parent";
  if (!ended(worker)) ::kill(worker, SIGKILL);
}

}  // namespace
}  // namespace vcap::pipeline
