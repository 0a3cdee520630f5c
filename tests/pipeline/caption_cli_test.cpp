// End-to-end tests of the `vcap caption` binary with the real captioner: the pico test model
// (made by `vcap make-test-model`, else taken from ../shared/golden/models/pico) over a subset
// of the development media (../shared/media, skipped when absent). Crashes are real: the
// binary is killed with SIGKILL mid-run and started again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "io/csv.h"
#include "pipeline/crash_guard.h"
#include "pipeline/journal.h"
#include "pipeline/test_dir.h"
#include "tensor/cuda/cuda_backend.h"

namespace vcap::pipeline {
namespace {

using testing::read_text;
using testing::TestDir;
using testing::write_text;

const std::filesystem::path kMedia = VCAP_SHARED_DIR "/media";

// Rows of ../shared/media/meta.csv with the status manifest.csv's `expected` column leads to.
// single_frame.mp4 is listed as ok there, but the reference sampler (qwen-vl-utils, spec §6.3)
// needs 2 frames, and media reports too_few_frames, as the reference raises.
struct DevClip {
  const char* path;
  const char* id;
  const char* status;
};
constexpr DevClip kClips[] = {
    {"real/bear-vp9.webm", "dev-001", "ok"},
    {"generated/empty.mp4", "dev-016", "empty_file"},
    {"generated/plain_text_renamed.mp4", "dev-017", "not_media"},
    {"generated/truncated_30pct.mp4", "dev-018", "truncated"},
    {"generated/audio_only.mp4", "dev-019", "no_video"},
    {"generated/single_frame.mp4", "dev-020", "too_few_frames"},
    {"generated/odd_37x23.webm", "dev-022", "ok"},
    {"generated/weird name, with \"double\" & 'single' quotes – café 日本語 ☕.mp4", "dev-027",
     "ok"},
    {"generated/directory_not_a_video.mp4", "dev-028", "is_directory"},
    {"generated/directory_not_a_video.mp4/inside.mp4", "dev-029", "ok"},
    {"generated/no_such_clip.mp4", "dev-999", "not_found"},
};

// Starts `command` (a program's path, then its arguments), stderr (and stdout) into `log`.
pid_t start_command(std::vector<std::string> command, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (std::string& arg : command) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Starts VCAP_BINARY with `args`, stderr (and stdout) into `log`.
pid_t start_vcap(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> command = {VCAP_BINARY};
  command.insert(command.end(), args.begin(), args.end());
  return start_command(std::move(command), log);
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_vcap(const std::vector<std::string>& args, const std::filesystem::path& log) {
  return wait_exit_code(start_vcap(args, log));
}

// Waits, up to a minute, until `journal` holds `records` rows; false when `child` ended first
// (it is left to wait_exit_code) or the minute passed.
bool wait_for_records(const std::filesystem::path& journal, uint64_t records, pid_t child) {
  for (int waited = 0; waited < 6000; ++waited) {
    Result<JournalScan> scan = scan_journal(journal, [](JournalRecord&&) { return Status(); });
    if (scan && scan->records >= records) return true;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == child)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Makes the pico test model in `folder`/pico (log in `folder`/make.log); the exit code.
int make_pico(const std::filesystem::path& folder) {
  return run_vcap({"make-test-model", "--preset", "pico", "--out", (folder / "pico").string()},
                  folder / "make.log");
}

// A short caption run of `meta` with `model`: 4 new tokens, 1 frame per second, frames of at
// most 112x112.
std::vector<std::string> quick_caption_args(const std::filesystem::path& meta,
                                            const std::filesystem::path& model) {
  return {"caption", meta.string(), "--model",  model.string(), "--max-new-tokens", "4",
          "--fps",   "1",           "--height", "112",          "--width",          "112"};
}

class CaptionCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kMedia / "meta.csv")) return;
    dir_ = std::make_unique<TestDir>();
    model_ = dir_->path() / "pico";
    if (make_pico(dir_->path()) != 0) {
      model_ = VCAP_SHARED_DIR "/golden/models/pico";
      if (!std::filesystem::exists(model_ / "config.json")) model_.clear();
    }
    std::string meta = "path,id\n";
    for (const DevClip& clip : kClips)
      meta += io::format_csv_row(std::vector<std::string>{clip.path, clip.id});
    write_text(dir_->path() / "meta.csv", meta);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    if (!dir_ || model_.empty())
      GTEST_SKIP() << "needs ../shared/media and a pico model (vcap make-test-model)";
  }

  // A fresh copy of the input in `folder`; returns the options to caption it.
  static std::vector<std::string> caption_args(const std::filesystem::path& folder) {
    std::filesystem::copy_file(dir_->path() / "meta.csv", folder / "meta.csv");
    std::vector<std::string> args = quick_caption_args(folder / "meta.csv", model_);
    args.insert(args.end(), {"--root", kMedia.string(), "--bs", "3", "--precision", "f32",
                             "--progress", "lines"});
    return args;
  }

  // The output of one uninterrupted run (made once).
  static const std::string& reference() {
    if (reference_.empty()) {
      TestDir run;
      EXPECT_EQ(run_vcap(caption_args(run.path()), run.path() / "log"), 0)
          << read_text(run.path() / "log");
      reference_ = read_text(run.path() / "meta_caption_qwen2vl.csv");
    }
    return reference_;
  }

  static inline std::unique_ptr<TestDir> dir_;
  static inline std::filesystem::path model_;
  static inline std::string reference_;
};

TEST_F(CaptionCli, EveryRowGetsTheManifestStatusAndTheWeirdNameSurvives) {
  const std::string output = reference();
  io::CsvReader reader = io::CsvReader::from_string(output);
  Result<std::vector<std::string>> header = reader.read_header();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(*header,
            (std::vector<std::string>{"path", "id", "text", "caption_status", "caption_error"}));
  std::vector<std::string> fields;
  size_t row = 0;
  while (*reader.next_row(fields)) {
    ASSERT_LT(row, std::size(kClips));
    const DevClip& clip = kClips[row];
    EXPECT_EQ(fields[0], clip.path);
    EXPECT_EQ(fields[1], clip.id);
    EXPECT_EQ(fields[3], clip.status) << clip.path << ": " << fields[4];
    if (fields[3] == "ok") {
      EXPECT_FALSE(fields[2].empty()) << clip.path;
      EXPECT_TRUE(fields[4].empty());
    } else {
      EXPECT_TRUE(fields[2].empty()) << clip.path;
      EXPECT_FALSE(fields[4].empty()) << clip.path;
    }
    ++row;
  }
  EXPECT_EQ(row, std::size(kClips));
}

TEST_F(CaptionCli, KilledMidRunThenRerunGivesTheUninterruptedOutput) {
  const std::string& expected = reference();
  TestDir run;
  std::vector<std::string> args = caption_args(run.path());
  // --bs 1, so that the run takes long enough to be caught in the middle.
  *(std::find(args.begin(), args.end(), "--bs") + 1) = "1";
  const auto journal = journal_path(run.path() / "meta_caption_qwen2vl.csv", 0, 1);
  const pid_t child = start_vcap(args, run.path() / "log1");
  // Kill once two rows are journaled (or when it ends by itself first: both must resume).
  wait_for_records(journal, 2, child);
  ::kill(child, SIGKILL);
  wait_exit_code(child);
  EXPECT_EQ(run_vcap(args, run.path() / "log2"), 0) << read_text(run.path() / "log2");
  EXPECT_EQ(read_text(run.path() / "meta_caption_qwen2vl.csv"), expected);
}

TEST_F(CaptionCli, ThreeRankProcessesGiveTheSingleProcessOutput) {
  const std::string& expected = reference();
  TestDir run;
  std::vector<std::string> args = caption_args(run.path());
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 3; ++rank) {
    std::vector<std::string> rank_args = args;
    rank_args.insert(rank_args.end(), {"--rank", std::to_string(rank), "--world-size", "3"});
    ranks.push_back(start_vcap(rank_args, run.path() / ("log" + std::to_string(rank))));
  }
  for (pid_t pid : ranks) EXPECT_EQ(wait_exit_code(pid), 0);
  EXPECT_EQ(read_text(run.path() / "meta_caption_qwen2vl.csv"), expected);
}

// In-repo data only: runs on a fresh clone too.
TEST(CaptionSignals, SigtermSaysHowToGoOnAndTheSameCommandFinishesTheRun) {
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  std::string meta = "path\n";
  for (int i = 0; i < 40; ++i) meta += VCAP_TEST_DATA_DIR "/media/bear-vp9.webm\n";
  write_text(run.path() / "meta.csv", meta);
  std::vector<std::string> args = quick_caption_args(run.path() / "meta.csv", run.path() / "pico");
  args.insert(args.end(), {"--bs", "1", "--progress", "none"});
  const auto journal = journal_path(run.path() / "meta_caption_qwen2vl.csv", 0, 1);
  const pid_t child = start_vcap(args, run.path() / "log1");
  if (!wait_for_records(journal, 1, child)) {
    ::kill(child, SIGKILL);
    wait_exit_code(child);
    FAIL() << "no clip was journaled: " << read_text(run.path() / "log1");
  }
  ::kill(child, SIGTERM);
  EXPECT_EQ(wait_exit_code(child), 128 + SIGTERM);  // still ended by the signal
  const std::string log = read_text(run.path() / "log1");
  EXPECT_NE(log.find("vcap: stopped by SIGTERM. The clips finished so far are kept in the "
                     "journal: run the same command again to go on from there."),
            std::string::npos)
      << log;
  // A stop asked for is no clip's fault: the rows in flight are not struck as suspects, and the
  // next run batches them as usual instead of captioning them one at a time first.
  EXPECT_FALSE(std::filesystem::exists(in_flight_path(journal)));
  EXPECT_EQ(run_vcap(args, run.path() / "log2"), 0) << read_text(run.path() / "log2");
  EXPECT_EQ(read_text(run.path() / "log2").find("were in flight when a vcap process"),
            std::string::npos)
      << read_text(run.path() / "log2");
  const std::string output = read_text(run.path() / "meta_caption_qwen2vl.csv");
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 41) << output;
}

// vcap as the first process of a container (PID 1 of its PID namespace, `docker run` without
// --init): the kernel ignores a signal whose action is the default for such a process, so after
// its notice SIGTERM used to leave the run going on. It now ends with 128 + SIGTERM.
TEST(CaptionSignals, AsTheFirstProcessOfAContainerSigtermStillEndsTheRun) {
  if (std::system("unshare --pid --fork /bin/true > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "unshare --pid is not allowed here (it needs root or user namespaces)";
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  std::string meta = "path\n";
  for (int i = 0; i < 40; ++i) meta += VCAP_TEST_DATA_DIR "/media/bear-vp9.webm\n";
  write_text(run.path() / "meta.csv", meta);
  std::vector<std::string> command = {"/usr/bin/unshare", "--pid", "--fork", VCAP_BINARY};
  const std::vector<std::string> args =
      quick_caption_args(run.path() / "meta.csv", run.path() / "pico");
  command.insert(command.end(), args.begin(), args.end());
  command.insert(command.end(), {"--bs", "1", "--progress", "none"});
  const std::filesystem::path log = run.path() / "log";
  const pid_t unshare = start_command(std::move(command), log);
  const auto journal = journal_path(run.path() / "meta_caption_qwen2vl.csv", 0, 1);
  ASSERT_TRUE(wait_for_records(journal, 1, unshare)) << read_text(log);
  // vcap is unshare's child: PID 1 inside, this number outside.
  std::ifstream children("/proc/" + std::to_string(unshare) + "/task/" + std::to_string(unshare) +
                         "/children");
  pid_t vcap = 0;
  ASSERT_TRUE(children >> vcap) << "no child of unshare";
  ::kill(vcap, SIGTERM);
  EXPECT_EQ(wait_exit_code(unshare), 128 + SIGTERM) << read_text(log);
  EXPECT_NE(read_text(log).find("vcap: stopped by SIGTERM."), std::string::npos) << read_text(log);
  EXPECT_FALSE(std::filesystem::exists(run.path() / "meta_caption_qwen2vl.csv"));
}

// In-repo data only: a clip missing at the first run is captioned by --retry once it is there,
// and the rows that were fine are copied, not captioned again.
TEST(CaptionRetry, RetriesOnlyTheNamedStatusesAndLoadsNoModelWhenNoneIsLeft) {
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  const std::filesystem::path clip = VCAP_TEST_DATA_DIR "/media/bear-vp9.webm";
  const std::filesystem::path late = run.path() / "late.webm";
  write_text(run.path() / "meta.csv",
             "path\n" + clip.string() + "\n" + late.string() + "\n" + clip.string() + "\n");
  std::vector<std::string> args = quick_caption_args(run.path() / "meta.csv", run.path() / "pico");
  args.insert(args.end(), {"--progress", "none"});
  const auto output = run.path() / "meta_caption_qwen2vl.csv";
  ASSERT_EQ(run_vcap(args, run.path() / "log1"), 0) << read_text(run.path() / "log1");
  const std::string first = read_text(output);
  ASSERT_NE(first.find(",not_found,"), std::string::npos) << first;
  EXPECT_NE(read_text(run.path() / "log1")
                .find("; 1 without caption (add --retry failed to caption them again)\n"),
            std::string::npos)
      << read_text(run.path() / "log1");

  std::filesystem::copy_file(clip, late);
  args.insert(args.end(), {"--retry", "not_found,oom"});
  ASSERT_EQ(run_vcap(args, run.path() / "log2"), 0) << read_text(run.path() / "log2");
  const std::string log2 = read_text(run.path() / "log2");
  EXPECT_NE(log2.find("--retry: kept 2 rows of " + output.string() +
                      ", 1 to caption again (not_found 1), 0 new"),
            std::string::npos)
      << log2;
  EXPECT_NE(log2.find("memory budget"), std::string::npos) << log2;  // the model was loaded
  // The three rows are the same clip: the retried one gets the caption the others kept.
  std::vector<std::string> lines;
  std::stringstream text(read_text(output));
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2].substr(lines[2].find(',')), lines[1].substr(lines[1].find(',')));
  EXPECT_NE(lines[2].find(",ok,"), std::string::npos) << lines[2];

  args.back() = "failed";
  ASSERT_EQ(run_vcap(args, run.path() / "log3"), 0) << read_text(run.path() / "log3");
  const std::string log3 = read_text(run.path() / "log3");
  EXPECT_NE(log3.find("kept 3 rows"), std::string::npos) << log3;
  EXPECT_EQ(log3.find("memory budget"), std::string::npos) << log3;  // no model loaded
}

// In-repo data only.
TEST(CaptionEmpty, ACsvWithoutRowsGivesAnOutputWithTheHeaderOnly) {
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  write_text(run.path() / "meta.csv", "path,id\n");
  ASSERT_EQ(run_vcap(quick_caption_args(run.path() / "meta.csv", run.path() / "pico"),
                     run.path() / "log"),
            0);
  EXPECT_EQ(read_text(run.path() / "meta_caption_qwen2vl.csv"),
            "path,id,text,caption_status,caption_error\n");
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("meta_caption_qwen2vl.csv: 0 rows; 0 without caption\n"), std::string::npos)
      << log;
}

// Makes the pico model in `run`, writes `files` (name, text) into its folder over what is there,
// and captions one missing clip with it: the exit code, with the log in `log`.
int caption_with_model_files(const TestDir& run,
                             const std::vector<std::pair<std::string, std::string>>& files,
                             std::string& log) {
  if (make_pico(run.path()) != 0) {
    log = read_text(run.path() / "make.log");
    return -1;
  }
  for (const auto& [name, text] : files) write_text(run.path() / "pico" / name, text);
  write_text(run.path() / "meta.csv", "path\nmissing.mp4\n");
  const int code = run_vcap(quick_caption_args(run.path() / "meta.csv", run.path() / "pico"),
                            run.path() / "log");
  log = read_text(run.path() / "log");
  return code;
}

// A model folder whose generation_config.json asks transformers for something vcap does not do
// (here n-gram blocking), or whose chat template is another one, is named when the model loads:
// the captions may differ.
TEST(CaptionModel, AGenerationSettingOrTemplateVcapDoesNotApplyIsNamed) {
  TestDir run;
  std::string log;
  ASSERT_EQ(caption_with_model_files(
                run,
                {{"generation_config.json",
                  R"({"top_k": 1, "no_repeat_ngram_size": 3, "eos_token_id": 151645})"},
                 {"chat_template.jinja", "{{ messages }}"}},
                log),
            0)
      << log;
  EXPECT_NE(log.find("/generation_config.json sets no_repeat_ngram_size=3, which vcap does not "
                     "apply: captions may differ from transformers'\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("/chat_template.jinja is not the official Qwen2-VL one"), std::string::npos)
      << log;
}

// transformers stops at no token when generation_config.json gives no eos_token_id; vcap stops at
// config.json's and says so.
TEST(CaptionModel, AGenerationConfigWithoutEosIsNamed) {
  TestDir run;
  std::string log;
  ASSERT_EQ(caption_with_model_files(run, {{"generation_config.json", R"({"top_k": 1})"}}, log), 0)
      << log;
  EXPECT_NE(log.find("/generation_config.json gives no eos_token_id: vcap stops a caption at "
                     "config.json's eos, where transformers would generate --max-new-tokens "
                     "tokens every time\n"),
            std::string::npos)
      << log;
}

// A model folder that bounds the processor's frames under what the flags give is refused with
// what to change (exit 2), not captioned with other pixels than transformers would use.
TEST(CaptionModel, AModelThatWouldResizeFramesTwiceIsRefused) {
  TestDir run;
  std::string log;
  EXPECT_EQ(caption_with_model_files(run,
                                     {{"preprocessor_config.json",
                                       R"({"min_pixels": 3136, "max_pixels": 6272, "patch_size": 14,
                                           "temporal_patch_size": 2, "merge_size": 2})"}},
                                     log),
            2);
  EXPECT_NE(log.find("takes frames of at most 6272 pixels, and with --height 112 --width 112 "
                     "qwen-vl-utils gives frames of up to 100352"),
            std::string::npos)
      << log;
}

// Without do_resize the processor takes qwen-vl-utils' frames as they are, whatever its bounds:
// nothing to refuse.
TEST(CaptionModel, AModelWithoutTheProcessorsResizeTakesFramesOutsideItsBounds) {
  TestDir run;
  std::string log;
  const int code =
      caption_with_model_files(run,
                               {{"preprocessor_config.json",
                                 R"({"min_pixels": 3136, "max_pixels": 6272, "patch_size": 14,
            "temporal_patch_size": 2, "merge_size": 2, "do_resize": false})"}},
                               log);
  EXPECT_NE(code, 2) << log;
  EXPECT_NE(code, -1) << log;
  EXPECT_EQ(log.find("takes frames of at most"), std::string::npos) << log;
  EXPECT_TRUE(std::filesystem::exists(run.path() / "meta_caption_qwen2vl.csv")) << log;
}

TEST(CommandLine, AMistypedCommandIsNamedWithTheCommands) {
  TestDir run;
  EXPECT_EQ(run_vcap({"capton", "meta.csv"}, run.path() / "log"), 2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("vcap: unknown command 'capton' (commands: "), std::string::npos) << log;
  EXPECT_NE(log.find("caption, merge, status"), std::string::npos) << log;
}

// As the seed's argparse: a wrapper's --model followed by the user's takes the user's.
TEST(CommandLine, AnOptionGivenTwiceTakesItsLastValue) {
  TestDir run;
  EXPECT_EQ(run_vcap({"caption", (run.path() / "none.csv").string(), "--bs", "-1", "--bs", "2"},
                     run.path() / "log"),
            2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("none.csv: no such file"), std::string::npos) << log;  // --bs 2 was taken
}

// Flag values that were taken for "not given" (a negative rank or world size, an empty
// --retry), a GPU named twice, and thread counts that crashed OpenMP or thread creation: each is
// refused with exit 2 and a message naming the flag, before any input is read.
TEST(CaptionFlags, BadValuesAreRefusedNotIgnoredOrCrashedOn) {
  TestDir run;
  const std::string meta = (run.path() / "meta.csv").string();
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--world-size", "-3"}, "--rank and --world-size must be given together"},
      {{"--rank", "-2"}, "--rank and --world-size must be given together"},
      {{"--rank", "-1", "--world-size", "-1"}, "--world-size must be at least 1"},
      {{"--retry", ""}, "--retry '': unknown status ''"},
      {{"--devices", "0,0"}, "names device 0 twice"},
      {{"--threads", "100000"}, "--threads must be in [0, 1024]"},
      {{"--decode-threads", "100000"}, "--decode-threads must be in [0, 1024]"},
      {{"--bs", "2147483647"}, "--bs must be in [0, 1024]"},
  };
  for (const auto& [flags, message] : cases) {
    SCOPED_TRACE(flags.front() + " " + flags.back());
    std::vector<std::string> args = {"caption", meta, "--model", "unused"};
    args.insert(args.end(), flags.begin(), flags.end());
    EXPECT_EQ(run_vcap(args, run.path() / "log"), 2);
    const std::string log = read_text(run.path() / "log");
    EXPECT_NE(log.find(message), std::string::npos) << log;
  }
}

// The seed's default --pretrained_model_name_or_path, a folder relative to the working
// directory, reads as a hub id when the folder is missing: the hub's error says so.
TEST(CaptionModel, AMissingModelFolderThatReadsAsAHubIdIsNamed) {
  TestDir run;
  write_text(run.path() / "meta.csv", "path\n" VCAP_TEST_DATA_DIR "/media/bear-vp9.webm\n");
  const std::string home = "HF_HOME=" + (run.path() / "hf").string();
  const std::vector<std::string> command = {"/usr/bin/env",
                                            "HF_HUB_OFFLINE=1",
                                            home,
                                            VCAP_BINARY,
                                            "caption",
                                            (run.path() / "meta.csv").string(),
                                            "--pretrained_model_name_or_path",
                                            "pretrained_models/Qwen2-VL-7B-Instruct"};
  EXPECT_EQ(wait_exit_code(start_command(command, run.path() / "log")), 2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("HF_HUB_OFFLINE=1"), std::string::npos) << log;
  EXPECT_NE(log.find("(and no folder pretrained_models/Qwen2-VL-7B-Instruct in "),
            std::string::npos)
      << log;
}

// oneDNN multiplies bf16 matrices with AVX-512 only; ONEDNN_MAX_CPU_ISA=AVX2 makes it see the
// CPU of an AVX2 server. The default precision (bf16) aborted there at the first product, and
// every rerun aborted again; now the run stops with exit 2 and says what to pass, and f32 runs.
TEST(CaptionPrecision, ACpuWithoutBf16ProductsIsToldToUseF32) {
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  write_text(run.path() / "meta.csv", "path\n" VCAP_TEST_DATA_DIR "/media/bear-vp9.webm\n");
  std::vector<std::string> command = {"/usr/bin/env", "ONEDNN_MAX_CPU_ISA=AVX2", VCAP_BINARY};
  for (const std::string& arg : quick_caption_args(run.path() / "meta.csv", run.path() / "pico"))
    command.push_back(arg);
  EXPECT_EQ(wait_exit_code(start_command(command, run.path() / "log")), 2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("this CPU cannot multiply bf16 matrices"), std::string::npos) << log;
  EXPECT_NE(log.find("--precision f32"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(run.path() / "meta_caption_qwen2vl.csv"));

  command.insert(command.end(), {"--precision", "f32"});
  EXPECT_EQ(wait_exit_code(start_command(command, run.path() / "log")), 0)
      << read_text(run.path() / "log");
  EXPECT_NE(read_text(run.path() / "meta_caption_qwen2vl.csv").find(",ok,"), std::string::npos);
}

// In-repo data only: a gzip-compressed CSV (as pandas reads it for the original pipeline) gives
// a gzip-compressed output named by the original rule, which --retry reads back; other
// compressions are refused before anything runs, with what to do.
TEST(CaptionGzip, AGzipCsvGivesAGzipOutputThatRetryReads) {
  TestDir run;
  ASSERT_EQ(make_pico(run.path()), 0) << read_text(run.path() / "make.log");
  const std::string clip = VCAP_TEST_DATA_DIR "/media/bear-vp9.webm";
  {
    Result<io::CsvWriter> meta = io::CsvWriter::open(
        run.path() / "meta.csv.gz", io::CsvWriter::Mode::kTruncate, io::Compression::kGzip);
    ASSERT_TRUE(meta.ok()) << meta.status().to_string();
    for (const std::vector<std::string>& row :
         std::vector<std::vector<std::string>>{{"path", "id"}, {clip, "1"}, {"missing.mp4", "2"}}) {
      ASSERT_TRUE(meta->write_row(row).ok());
    }
    ASSERT_TRUE(meta->close().ok());
  }
  std::vector<std::string> args =
      quick_caption_args(run.path() / "meta.csv.gz", run.path() / "pico");
  args.insert(args.end(), {"--progress", "none"});
  ASSERT_EQ(run_vcap(args, run.path() / "log"), 0) << read_text(run.path() / "log");
  const auto output = run.path() / "meta.csv_caption_qwen2vl.gz";
  EXPECT_EQ(read_text(output).substr(0, 2), "\x1f\x8b");
  auto statuses = [&output]() {
    std::vector<std::string> found;
    Result<io::CsvReader> reader = io::CsvReader::open(output);
    EXPECT_TRUE(reader.ok()) << reader.status().to_string();
    if (!reader.ok()) return found;
    std::vector<std::string> fields;
    Result<std::vector<std::string>> header = reader->read_header();
    EXPECT_TRUE(header.ok() && header->size() == 5);
    for (;;) {
      Result<bool> more = reader->next_row(fields);
      EXPECT_TRUE(more.ok()) << more.status().to_string();
      if (!more.ok() || !*more) return found;
      found.push_back(fields[0] + " " + fields[3]);
    }
  };
  EXPECT_EQ(statuses(), (std::vector<std::string>{clip + " ok", "missing.mp4 not_found"}));

  args.insert(args.end(), {"--retry", "not_found"});
  ASSERT_EQ(run_vcap(args, run.path() / "log"), 0) << read_text(run.path() / "log");
  EXPECT_EQ(statuses(), (std::vector<std::string>{clip + " ok", "missing.mp4 not_found"}));

  write_text(run.path() / "meta.csv.xz", std::string("\xfd"
                                                     "7zXZ\0\0",
                                                     7));
  EXPECT_EQ(run_vcap(quick_caption_args(run.path() / "meta.csv.xz", run.path() / "pico"),
                     run.path() / "log"),
            2);
  EXPECT_NE(read_text(run.path() / "log").find("decompress the input first"), std::string::npos)
      << read_text(run.path() / "log");
}

// In-repo data only: `vcap status` needs no model.
TEST(StatusCli, PrintsTheTableOrJsonOnStdout) {
  TestDir run;
  write_text(run.path() / "meta.csv", "path\na.mp4\nb.mp4\n");
  ASSERT_EQ(run_vcap({"status", (run.path() / "meta.csv").string()}, run.path() / "log"), 0);
  EXPECT_EQ(read_text(run.path() / "log"), (run.path() / "meta_caption_qwen2vl.csv").string() +
                                               ": not started (no journal, no output), 2 input "
                                               "rows\n");
  ASSERT_EQ(run_vcap({"status", (run.path() / "meta.csv").string(), "--json"}, run.path() / "log"),
            0);
  EXPECT_NE(read_text(run.path() / "log").find("\"state\":\"not started\""), std::string::npos);
  EXPECT_EQ(run_vcap({"status", (run.path() / "none.csv").string()}, run.path() / "log"), 2);
}

TEST_F(CaptionCli, BadInputExitsWithTwoAndAClearMessage) {
  TestDir run;
  EXPECT_EQ(run_vcap({"caption", (run.path() / "none.csv").string()}, run.path() / "log"), 2);
  EXPECT_NE(read_text(run.path() / "log").find("none.csv: no such file"), std::string::npos);
  write_text(run.path() / "m.csv", "video,id\na.mp4,1\n");
  EXPECT_EQ(run_vcap({"caption", (run.path() / "m.csv").string()}, run.path() / "log"), 2);
  EXPECT_NE(read_text(run.path() / "log").find("columns found: 'video', 'id'"), std::string::npos);
  EXPECT_EQ(run_vcap({"caption", (run.path() / "m.csv").string(), "--bs", "0"}, run.path() / "log"),
            2);
  // Workers that all refuse their device: the setup is what to fix, there is nothing to resume.
  std::vector<std::string> args = caption_args(run.path());
  args.insert(args.end(), {"--devices", "98,99"});
  EXPECT_EQ(run_vcap(args, run.path() / "log"), 2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("worker for device 98 exited with status 2"), std::string::npos) << log;
  EXPECT_NE(log.find("no CUDA"), std::string::npos) << log;
  EXPECT_EQ(log.find("resume"), std::string::npos) << log;
}

// --devices all: a worker per visible GPU; with none visible (this machine), a setup error
// that says why, before anything starts.
TEST(DevicesCli, AllWithoutAGpuSaysWhy) {
  if (tensor::cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible here";
  TestDir run;
  write_text(run.path() / "meta.csv", "path\na.mp4\n");
  EXPECT_EQ(run_vcap({"caption", (run.path() / "meta.csv").string(), "--devices", "all"},
                     run.path() / "log"),
            2);
  const std::string log = read_text(run.path() / "log");
  EXPECT_NE(log.find("--devices all: no CUDA device: "), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(run.path() / "meta_caption_qwen2vl.csv"));
}

}  // namespace
}  // namespace vcap::pipeline
