// `vcap download` and `vcap models`, run as a user would, against the fake hub.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "hub_test_util.h"

namespace vcap::hub::testing {
namespace {

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class HubCli : public HubTest {
 protected:
  // Runs the vcap binary with the hub variables pointing at the fake hub and a fresh cache.
  CommandRun vcap(const std::string& args, const std::string& extra_env = "") {
    const std::filesystem::path out = root_ / "stdout.txt";
    const std::filesystem::path err = root_ / "stderr.txt";
    const std::string command =
        "env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE "
        "HF_HOME='" +
        (root_ / "hf_home").string() + "' HF_ENDPOINT='" + hub_->endpoint() + "' HF_HUB_CACHE='" +
        options_.cache_dir.string() + "' " + extra_env + " '" + VCAP_BINARY + "' " + args + " >'" +
        out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    CommandRun run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = read_file(out);
    run.err = read_file(err);
    return run;
  }
};

TEST_F(HubCli, DownloadPrintsTheSnapshotFolder) {
  const CommandRun run = vcap(std::string("download ") + kRepo);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, snapshot().string() + "\n");
  EXPECT_NE(run.err.find("downloaded model.safetensors"), std::string::npos) << run.err;
  EXPECT_EQ(read_file(snapshot() / "model.safetensors"), pattern_bytes(5000, 1));
}

TEST_F(HubCli, DownloadOfAnUnknownModelIsBadInput) {
  const CommandRun run = vcap("download tiny-org/Nope --revision main");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "vcap: model tiny-org/Nope not found on " + hub_->endpoint() +
                         " (or private: set HF_TOKEN)\n");
}

TEST_F(HubCli, OfflineDownloadOfAnUncachedModelSaysSo) {
  const CommandRun run = vcap(std::string("download ") + kRepo, "HF_HUB_OFFLINE=1");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("HF_HUB_OFFLINE=1"), std::string::npos) << run.err;
  EXPECT_EQ(hub_->total_requests(), 0);
}

TEST_F(HubCli, ModelsListsTheCache) {
  const CommandRun empty = vcap("models");
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_NE(empty.out.find("no models"), std::string::npos) << empty.out;

  ASSERT_EQ(vcap(std::string("download ") + kRepo).exit_code, 0);
  const CommandRun run = vcap("models");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find(options_.cache_dir.string()), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(kRepo), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("main"), std::string::npos);
  EXPECT_NE(run.out.find(std::string(kCommit).substr(0, 8)), std::string::npos);
  EXPECT_NE(run.out.find("complete"), std::string::npos);
}

}  // namespace
}  // namespace vcap::hub::testing
