// The model and sampling flags (cli/model_flags.h) as users meet them: `vcap caption` and
// `vcap bench` run as processes must document every shared flag identically, reject the same bad
// value with the same message and exit code 2, and accept every shared flag (each run then stops
// at a model folder that does not exist, so no model is loaded or generated).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace vcap::cli {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs VCAP_BINARY with `args` (no shell, so arguments keep their spaces).
RunResult run_vcap(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ::_exit(127);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    std::vector<char*> argv = {const_cast<char*>(VCAP_BINARY)};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(VCAP_BINARY, argv.data());
    ::_exit(127);
  }
  RunResult result;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  result.output = read_file(log);
  return result;
}

// The flags shared by both commands, --model aside (bench documents its own default there).
const std::vector<std::string> kSharedFlags = {
    "--revision",   "--question",  "--max-new-tokens", "--height", "--width",
    "--exact-size", "--fps",       "--no-autorotate",  "--bs",     "--device",
    "--threads",    "--precision", "--decode-threads"};

// One option's entry in a CLI11 help text: its line, and the description's line when the name
// column overflows onto its own line.
std::string help_entry(const std::string& help, const std::string& flag) {
  std::istringstream lines(help);
  std::string entry;
  for (std::string line; std::getline(lines, line);) {
    if (!entry.empty()) {
      if (line.starts_with("    ") && !line.starts_with("  -")) entry += "\n" + line;
      return entry;
    }
    const std::string head = "  " + flag;
    if (line.starts_with(head) &&
        (line.size() == head.size() || line[head.size()] == ' ' || line[head.size()] == ','))
      entry = line;
  }
  return entry;
}

class ModelFlags : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::path(::testing::TempDir()) /
           ("vcap_model_flags_" + std::to_string(::getpid()) + "_" + name);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "meta.csv") << "path\nclip.mp4\n";
    std::ofstream(dir_ / "clip.mp4") << "not decoded: the runs stop at the model";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string missing_model() const { return (dir_ / "no_such_model").string(); }

  // `vcap COMMAND` with what the command itself needs, then `flags`.
  RunResult run(const std::string& command, const std::vector<std::string>& flags) const {
    std::vector<std::string> args = {command};
    if (command == "caption") {
      args.insert(args.end(), {(dir_ / "meta.csv").string(), "--progress", "none"});
    } else {
      args.insert(args.end(), {"--video", (dir_ / "clip.mp4").string(), "--work-dir",
                               (dir_ / "work").string(), "--no-yardsticks"});
    }
    args.insert(args.end(), flags.begin(), flags.end());
    return run_vcap(args, dir_ / (command + ".log"));
  }

  fs::path dir_;
};

TEST_F(ModelFlags, HelpDocumentsEverySharedFlagIdenticallyInCaptionAndBench) {
  const RunResult caption = run_vcap({"caption", "--help"}, dir_ / "caption_help.txt");
  const RunResult bench = run_vcap({"bench", "--help"}, dir_ / "bench_help.txt");
  ASSERT_EQ(caption.exit_code, 0) << caption.output;
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  for (const std::string& flag : kSharedFlags) {
    const std::string entry = help_entry(caption.output, flag);
    EXPECT_FALSE(entry.empty()) << flag << " missing from caption --help:\n" << caption.output;
    EXPECT_EQ(help_entry(bench.output, flag), entry) << flag;
  }
  // Defaults shown are caption's (the seed script's); --model differs by design.
  EXPECT_NE(help_entry(caption.output, "--fps").find("=4 "), std::string::npos);
  EXPECT_NE(help_entry(caption.output, "--precision").find("=bf16"), std::string::npos);
  EXPECT_NE(help_entry(caption.output, "--model").find("=Qwen/Qwen2-VL-2B-Instruct"),
            std::string::npos);
  EXPECT_NE(help_entry(bench.output, "--model").find("the random 2B"), std::string::npos);
  EXPECT_EQ(help_entry(bench.output, "--model").find("=Qwen"), std::string::npos);
}

TEST_F(ModelFlags, BothCommandsRejectABadSharedValueTheSameWayWithExitCode2) {
  const std::vector<std::vector<std::string>> bad_values = {
      {"--fps", "0"},          {"--fps", "nan"},    {"--precision", "fp7"},
      {"--height", "10"},      {"--width", "wide"}, {"--device", "gpu"},
      {"--bs", "-1"},          {"--threads=-1"},    {"--max-new-tokens", "0"},
      {"--decode-threads=-2"},
  };
  for (const std::vector<std::string>& bad : bad_values) {
    std::vector<std::string> flags = {"--model", missing_model()};
    flags.insert(flags.end(), bad.begin(), bad.end());
    const RunResult caption = run("caption", flags);
    const RunResult bench = run("bench", flags);
    const std::string flag = bad[0].substr(0, bad[0].find('='));
    EXPECT_EQ(caption.exit_code, 2) << bad[0] << "\n" << caption.output;
    EXPECT_EQ(bench.exit_code, 2) << bad[0] << "\n" << bench.output;
    EXPECT_EQ(bench.output, caption.output) << bad[0];
    EXPECT_NE(caption.output.find(flag), std::string::npos) << caption.output;
    EXPECT_EQ(caption.output.find("no_such_model"), std::string::npos)
        << bad[0] << " was accepted: " << caption.output;
  }
}

TEST_F(ModelFlags, BothCommandsAcceptEverySharedFlagAndTheSeedSpellings) {
  const std::vector<std::string> flags = {"--revision",
                                          "v1",
                                          "--question",
                                          "What happens?",
                                          "--height",
                                          "280",
                                          "--width",
                                          "308",
                                          "--exact-size",
                                          "--fps",
                                          "1.5",
                                          "--no-autorotate",
                                          "--bs",
                                          "2",
                                          "--device",
                                          "cpu",
                                          "--threads",
                                          "1",
                                          "--precision",
                                          "f32",
                                          "--decode-threads",
                                          "1"};
  const std::vector<std::vector<std::string>> spellings = {
      {"--model", missing_model(), "--max-new-tokens", "7"},
      {"--pretrained_model_name_or_path", missing_model(), "--max_new_tokens", "7"}};
  const std::string expected = "model directory " + missing_model() + " does not exist";
  for (std::vector<std::string> args : spellings) {
    args.insert(args.end(), flags.begin(), flags.end());
    const RunResult caption = run("caption", args);
    const RunResult bench = run("bench", args);
    // Each command's own exit code for a model it cannot find: caption 2, bench 1.
    EXPECT_EQ(caption.exit_code, 2) << caption.output;
    EXPECT_EQ(bench.exit_code, 1) << bench.output;
    EXPECT_NE(caption.output.find(expected), std::string::npos) << caption.output;
    EXPECT_NE(bench.output.find(expected), std::string::npos) << bench.output;
  }
}

}  // namespace
}  // namespace vcap::cli
