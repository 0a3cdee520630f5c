// `vcap tokenize`, run as a process on the golden files: every line through the CLI must give
// the golden ids and texts, and bad input must give exit code 2 with the line number.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "text_test_util.h"

namespace vcap::text {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::vector<std::string> stdout_lines;
  std::string stderr_text;
};

// Runs `vcap tokenize ARGS < input` in a scratch directory.
RunResult run_tokenize(const std::string& args, const std::string& input) {
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("vcap_tokenize_" + std::to_string(getpid()) + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(dir);
  std::ofstream(dir / "in.jsonl", std::ios::binary) << input;
  const std::string command = std::string(VCAP_BINARY) + " tokenize " + args + " < " +
                              (dir / "in.jsonl").string() + " > " + (dir / "out.jsonl").string() +
                              " 2> " + (dir / "err.txt").string();
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.stdout_lines = testing::read_lines(dir / "out.jsonl");
  result.stderr_text = testing::read_file(dir / "err.txt");
  fs::remove_all(dir);
  return result;
}

std::string model_arg() { return "--model " + (testing::test_data_dir() / "qwen2vl").string(); }

TEST(TokenizeCommand, EncodesEveryGoldenLine) {
  const std::vector<std::string> golden =
      testing::read_lines(testing::test_data_dir() / "text" / "encode.jsonl");
  std::string input;
  for (const std::string& line : golden) input += Json::parse(line).at("text").dump() + "\n";
  const RunResult result = run_tokenize(model_arg(), input);
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  ASSERT_EQ(result.stdout_lines.size(), golden.size());
  for (std::size_t i = 0; i < golden.size(); ++i) {
    // Output is written like Python's json.dumps(ids).
    const Json row = Json::parse(golden[i]);
    std::string expected = "[";
    for (const Json& id : row.at("ids")) expected += (expected.size() > 1 ? ", " : "") + id.dump();
    EXPECT_EQ(result.stdout_lines[i], expected + "]") << "encode.jsonl line " << i + 1;
  }
}

TEST(TokenizeCommand, DecodesEveryGoldenLine) {
  const fs::path golden_path = testing::test_data_dir() / "text" / "decode.jsonl";
  const std::vector<std::string> golden = testing::read_lines(golden_path);
  // The golden lines carry an extra "text" key, which --decode ignores.
  const RunResult result = run_tokenize(model_arg() + " --decode", testing::read_file(golden_path));
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  ASSERT_EQ(result.stdout_lines.size(), golden.size());
  for (std::size_t i = 0; i < golden.size(); ++i) {
    EXPECT_EQ(Json::parse(result.stdout_lines[i]), Json::parse(golden[i]).at("text"))
        << "decode.jsonl line " << i + 1;
  }
}

TEST(TokenizeCommand, StopsAtTheFirstBadLineAndNamesIt) {
  RunResult result = run_tokenize(model_arg(), "\"Hello world\"\n42\n\"never read\"\n");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.stdout_lines, std::vector<std::string>{"[9707, 1879]"});
  EXPECT_NE(result.stderr_text.find("line 2"), std::string::npos) << result.stderr_text;

  result = run_tokenize(model_arg() + " --decode", "{\"ids\": [9707, -5]}\n");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(result.stdout_lines.empty());
  EXPECT_NE(result.stderr_text.find("line 1"), std::string::npos) << result.stderr_text;
  EXPECT_NE(result.stderr_text.find("ids[1]"), std::string::npos) << result.stderr_text;
}

TEST(TokenizeCommand, DecodeDefaultsToKeepingSpecialTokens) {
  const RunResult result =
      run_tokenize(model_arg() + " --decode",
                   "{\"ids\": [151644, 9707]}\n"
                   "{\"ids\": [151644, 9707], \"skip_special_tokens\": true}\n");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stdout_lines, (std::vector<std::string>{"\"<|im_start|>Hello\"", "\"Hello\""}));
}

TEST(TokenizeCommand, FailsWithOneLineNamingAMissingOrCorruptTokenizer) {
  const RunResult result = run_tokenize("--model /nonexistent/model", "\"x\"\n");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.stderr_text.find("/nonexistent/model: no such file"), std::string::npos)
      << result.stderr_text;
  EXPECT_EQ(std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n'), 1);

  const fs::path corrupt =
      fs::path(::testing::TempDir()) / ("vcap_corrupt_" + std::to_string(getpid()) + ".json");
  std::ofstream(corrupt) << "{\"model\": ";
  const RunResult bad = run_tokenize("--model " + corrupt.string(), "\"x\"\n");
  fs::remove(corrupt);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find(corrupt.string() + ": not valid JSON"), std::string::npos)
      << bad.stderr_text;
  EXPECT_EQ(std::count(bad.stderr_text.begin(), bad.stderr_text.end(), '\n'), 1);
}

}  // namespace
}  // namespace vcap::text
