#include "pipeline/worker_processes.h"

#include <gtest/gtest.h>

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
  EXPECT_FALSE((*exits)[2].ok);
  EXPECT_EQ((*exits)[2].description.substr(0, 18), "killed by signal 9");
  EXPECT_EQ((*exits)[3].description, "exited with status 127");  // exec failed
}

}  // namespace
}  // namespace vcap::pipeline
