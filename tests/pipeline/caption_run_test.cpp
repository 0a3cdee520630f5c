#include "pipeline/caption_run.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "pipeline/file_sync.h"
#include "pipeline/journal.h"
#include "pipeline/run_helpers.h"

namespace vcap::pipeline {
namespace {

using testing::FakeBehaviour;
using testing::FakeFactory;
using testing::NullLog;
using testing::quiet_options;
using testing::read_text;
using testing::run_with;
using testing::TestDir;
using testing::write_meta;
using testing::write_text;

// The output an uninterrupted single-process run gives for `rows` rows of write_meta.
std::string reference_output(int rows, FakeBehaviour behaviour = {}) {
  TestDir dir;
  FakeFactory factory(std::move(behaviour));
  Result<CaptionRunReport> report = run_with(quiet_options(write_meta(dir.path(), rows)), factory);
  EXPECT_TRUE(report.ok()) << report.status().to_string();
  return read_text(dir.path() / "meta_caption_qwen2vl.csv");
}

TEST(CaptionRun, WritesEveryRowInOrderWithCaptionAndStatusColumns) {
  TestDir dir;
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(quiet_options(write_meta(dir.path(), 3)), factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kMerged);
  EXPECT_EQ(report->total_rows, 3u);
  ASSERT_TRUE(report->merge.has_value());
  EXPECT_EQ(report->merge->rows, 3u);
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"),
            "path,id,text,caption_status,caption_error\n"
            "clips/c0.mp4,id0,\"caption of clips/c0.mp4 (fps 4, max_pixels 301056)\",ok,\n"
            "clips/c1.mp4,id1,\"caption of clips/c1.mp4 (fps 4, max_pixels 301056)\",ok,\n"
            "clips/c2.mp4,id2,\"caption of clips/c2.mp4 (fps 4, max_pixels 301056)\",ok,\n");
  // The journal is removed once the output is complete.
  EXPECT_FALSE(std::filesystem::exists(journal_path(report->output, 0, 1)));
}

TEST(CaptionRun, KeepsWeirdFileNamesAndStatusesOfTheDevSet) {
  TestDir dir;
  std::filesystem::copy_file(VCAP_TEST_DATA_DIR "/pipeline/meta.csv", dir.path() / "meta.csv");
  FakeBehaviour behaviour;
  behaviour.plan_failures["generated/empty.mp4"] =
      ClipOutcome::failure(ClipStatus::kEmptyFile, "media: generated/empty.mp4: empty file");
  behaviour.plan_failures["generated/directory_not_a_video.mp4"] =
      ClipOutcome::failure(ClipStatus::kIsDirectory, "is a directory");
  FakeFactory factory(behaviour);
  CaptionOptions options = quiet_options(dir.path() / "meta.csv");
  options.bs = 3;
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->merge->rows, 30u);
  EXPECT_EQ(report->merge->counts.at(ClipStatus::kOk), 28u);
  const std::string output = read_text(dir.path() / "meta_caption_qwen2vl.csv");
  const std::string weird =
      "\"generated/weird name, with \"\"double\"\" & 'single' quotes – café 日本語 "
      "☕.mp4\",dev-027,";
  EXPECT_NE(output.find(weird), std::string::npos) << output;
  EXPECT_NE(output.find("generated/empty.mp4,dev-016,,empty_file,media: generated/empty.mp4: "
                        "empty file\n"),
            std::string::npos);
  EXPECT_NE(output.find("generated/directory_not_a_video.mp4,dev-028,,is_directory,is a directory"),
            std::string::npos);
}

TEST(CaptionRun, ReplacesAnExistingTextColumnInPlace) {
  TestDir dir;
  write_text(dir.path() / "m.csv", "text,path\nold caption,a.mp4\n");
  FakeFactory factory({});
  ASSERT_TRUE(run_with(quiet_options(dir.path() / "m.csv"), factory).ok());
  EXPECT_EQ(read_text(dir.path() / "m_caption_qwen2vl.csv"),
            "text,path,caption_status,caption_error\n"
            "\"caption of a.mp4 (fps 4, max_pixels 301056)\",a.mp4,ok,\n");
}

// A Linux file name is bytes: a Latin-1 name (an old archive's) is not UTF-8. The journal keeps
// it byte for byte, so that the merge matches it with the CSV's; before, the merge found the
// "CSV changed" at every run, --restart or not.
TEST(CaptionRun, APathThatIsNotUtf8IsKeptByteForByte) {
  TestDir dir;
  write_text(dir.path() / "m.csv", "path,id\nvid\xe9o.mp4,a\nb.mp4,b\n");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(quiet_options(dir.path() / "m.csv"), factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const std::string output = read_text(dir.path() / "m_caption_qwen2vl.csv");
  EXPECT_EQ(output.find("\nvid\xe9o.mp4,a,\"caption of vid\xef\xbf\xbdo.mp4"), 41u) << output;
  EXPECT_NE(output.find("\nb.mp4,b,"), std::string::npos) << output;
}

// A rerun replaces the output with a new file: it keeps the old one's permissions (a private
// output must not become world-readable), as pandas' to_csv rewriting it in place does.
TEST(CaptionRun, AReplacedOutputKeepsItsPermissions) {
  TestDir dir;
  const CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
  FakeFactory factory({});
  ASSERT_TRUE(run_with(options, factory).ok());
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  namespace fs = std::filesystem;
  fs::permissions(output, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(run_with(options, factory).ok());
  EXPECT_EQ(fs::status(output).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

// The default budget (the captioner's, after loading) is divided between the processes that
// share its memory: a CPU job's processes on the machine, or those --device cuda put on one GPU.
// An explicit --max-memory is each process's own.
TEST(EngineConfig, TheDefaultBudgetIsSharedByTheProcessesOnItsMemory) {
  FakeBehaviour behaviour;
  behaviour.budget_bytes = 12000;
  testing::FakeCaptioner captioner(behaviour);
  CaptionOptions options;
  EXPECT_EQ(machine_engine_config(options, captioner, 3).budget_bytes, 4000u);
  options.device = "cuda:1";
  EXPECT_EQ(machine_engine_config(options, captioner, 3).budget_bytes, 12000u);
  options.gpu_sharers = 2;
  EXPECT_EQ(machine_engine_config(options, captioner, 3).budget_bytes, 6000u);
  options.max_memory_bytes = 5000;
  EXPECT_EQ(machine_engine_config(options, captioner, 3).budget_bytes, 5000u);
}

TEST(EngineConfig, DefaultsBatchAndPrefetchPerDevice) {
  CaptionOptions options;
  EngineConfig config = engine_config(options, 1 << 30, DecodeShare{}, UINT64_MAX);
  EXPECT_EQ(config.bs, 4);        // CPU
  EXPECT_EQ(config.prefetch, 5);  // a batch's worth, plus one
  options.device = "cuda:0";
  config = engine_config(options, 1 << 30, DecodeShare{}, UINT64_MAX);
  EXPECT_EQ(config.bs, 8);
  EXPECT_EQ(config.prefetch, 18);
  options.bs = 2;
  options.prefetch = 3;
  config = engine_config(options, 1 << 30, DecodeShare{}, 12345);
  EXPECT_EQ(config.bs, 2);
  EXPECT_EQ(config.prefetch, 3);
  EXPECT_EQ(config.prefetch_bytes, 12345u);
}

TEST(CaptionRun, ARankAlreadyBeingCaptionedIsRefusedUntilItsProcessLetsGo) {
  TestDir dir;
  FakeFactory factory({});
  const CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  std::filesystem::path lock_path = journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1);
  lock_path.replace_extension(".lock");
  {
    Result<ProcessLock> other = ProcessLock::try_acquire(lock_path);  // "another process"
    ASSERT_TRUE(other.ok() && other->held());
    Result<CaptionRunReport> refused = run_with(options, factory);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("rank 0 of 1 is being captioned by another process"),
              std::string::npos)
        << refused.status().message();
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "meta_caption_qwen2vl.csv"));
  }
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kMerged);
  EXPECT_FALSE(std::filesystem::exists(lock_path));
}

TEST(CaptionRun, MissingInputIsNotFound) {
  TestDir dir;
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(quiet_options(dir.path() / "none.csv"), factory);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kNotFound);
  EXPECT_NE(report.status().message().find("none.csv"), std::string::npos);
}

TEST(CaptionRun, InputWithoutPathColumnListsTheColumnsFound) {
  TestDir dir;
  write_text(dir.path() / "m.csv", "video,id\na.mp4,1\n");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(quiet_options(dir.path() / "m.csv"), factory);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("columns found: 'video', 'id'"), std::string::npos)
      << report.status().message();
  EXPECT_EQ(factory.creates(), 0);
}

// `cat meta.csv | vcap caption /dev/stdin`: the first reading used the pipe up, and the run
// said the CSV had no header row. The input is read several times: a pipe is refused as such.
TEST(CaptionRun, InputFromAPipeIsRefusedAsOneThatCannotBeReadTwice) {
  TestDir dir;
  CaptionOptions options = quiet_options(dir.path() / "meta.csv");
  ASSERT_EQ(::mkfifo(options.meta_path.c_str(), 0644), 0);
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("is a pipe or a device, not a file"), std::string::npos)
      << report.status().message();
}

TEST(CaptionRun, OutputInAFolderThatIsNotThereIsRefusedBeforeTheModelLoads) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
  options.output = dir.path() / "results" / "captions.csv";
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(), "cannot write " + options.output.string() + ": the folder " +
                                           (dir.path() / "results").string() + " does not exist");
  EXPECT_EQ(factory.creates(), 0);
}

// The merge renames its file over the output: a folder there failed only after the whole run
// (and every rerun), and a link, a device or a pipe was replaced by a plain file. All are
// refused before the model loads; so is a name with a trailing slash. `vcap merge` too.
TEST(CaptionRun, OutputThatIsNoFileIsRefusedBeforeTheModelLoads) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
  std::filesystem::create_directory(dir.path() / "results");
  write_text(dir.path() / "real.csv", "kept\n");
  std::filesystem::create_symlink(dir.path() / "real.csv", dir.path() / "link.csv");
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.csv").c_str(), 0644), 0);
  const std::pair<std::filesystem::path, std::string> cases[] = {
      {dir.path() / "results", "it is a folder"},
      {dir.path() / "results/", "it names a folder"},
      {dir.path() / "link.csv", "it is a symbolic link"},
      {dir.path() / "fifo.csv", "it is not a regular file"},
  };
  for (const auto& [output, why] : cases) {
    SCOPED_TRACE(output.string());
    options.output = output;
    FakeFactory factory({});
    Result<CaptionRunReport> report = run_with(options, factory);
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(report.status().message().find(why), std::string::npos) << report.status().message();
    EXPECT_EQ(factory.creates(), 0);
    NullLog log;
    Result<MergeReport> merged = run_merge(options, log.get());
    ASSERT_FALSE(merged.ok());
    EXPECT_NE(merged.status().message().find(why), std::string::npos) << merged.status().message();
  }
  EXPECT_TRUE(std::filesystem::is_symlink(dir.path() / "link.csv"));
  EXPECT_EQ(read_text(dir.path() / "real.csv"), "kept\n");
}

TEST(CaptionRun, SkipIfExistingDoesNothingWhenTheOutputExists) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
  write_text(dir.path() / "meta_caption_qwen2vl.csv", "done before\n");
  options.skip_if_existing = true;
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->end, RunEnd::kSkippedExisting);
  EXPECT_EQ(factory.creates(), 0);
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), "done before\n");
  options.skip_if_existing = false;  // without the flag the output is made again
  ASSERT_TRUE(run_with(options, factory).ok());
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), reference_output(2));
}

TEST(CaptionRun, OverBudgetClipIsTooLargeWithAnEmptyCaption) {
  TestDir dir;
  FakeBehaviour behaviour;
  behaviour.cost_multiplier["clips/c1.mp4"] = 100;
  FakeFactory factory(behaviour);
  CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  options.max_memory_bytes = testing::fake_cost_bytes({4.0, 448 * 672, 0, 0}, 2.0);
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->merge->counts.at(ClipStatus::kTooLarge), 1u);
  const std::string output = read_text(dir.path() / "meta_caption_qwen2vl.csv");
  EXPECT_NE(output.find("clips/c1.mp4,id1,,too_large,\"needs "), std::string::npos) << output;
}

// The default budget of a CPU run is shared by the job's processes on the machine; a GPU's is
// its own.
TEST(CaptionRun, CpuProcessesOfOneMachineShareTheDefaultBudget) {
  const uint64_t clip_bytes = testing::fake_cost_bytes({4.0, 448 * 672, 0, 0}, 1.0);
  const EnvLookup four_local = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "LOCAL_WORLD_SIZE") return "4";
    return std::nullopt;
  };
  for (const char* device : {"cpu", "cuda:0"}) {
    TestDir dir;
    FakeBehaviour behaviour;
    behaviour.budget_bytes = 3 * clip_bytes;  // a quarter of it is under one clip
    FakeFactory factory(behaviour);
    CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
    options.device = device;
    testing::NullLog log;
    Result<CaptionRunReport> report = run_caption(options, factory, four_local, log.get());
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    const ClipStatus expected =
        std::string(device) == "cpu" ? ClipStatus::kTooLarge : ClipStatus::kOk;
    EXPECT_EQ(report->merge->counts.at(expected), 2u) << device;
  }
}

TEST(CaptionRun, BatchOfFourWritesTheSameFileAsBatchOfOne) {
  TestDir dir;
  FakeFactory factory({});
  CaptionOptions options = quiet_options(write_meta(dir.path(), 23));
  options.bs = 4;
  options.decode_threads = 3;
  ASSERT_TRUE(run_with(options, factory).ok());
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), reference_output(23));
}

TEST(CaptionRun, RelativePathsResolveAgainstRoot) {
  TestDir dir;
  std::vector<std::string> files;
  FakeBehaviour behaviour;
  auto seen = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  behaviour.on_prepare = [seen, mutex](const ClipJob& job) {
    std::lock_guard lock(*mutex);
    seen->push_back(job.file.string());
  };
  write_text(dir.path() / "m.csv", "path\nrel.mp4\n/abs/x.mp4\n");
  FakeFactory factory(behaviour);
  CaptionOptions options = quiet_options(dir.path() / "m.csv");
  options.root = "/data";
  options.decode_threads = 1;
  ASSERT_TRUE(run_with(options, factory).ok());
  EXPECT_EQ(*seen, (std::vector<std::string>{"/data/rel.mp4", "/abs/x.mp4"}));
}

// The run's log, as a string.
std::string run_log(const CaptionOptions& options, FakeFactory& factory) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* log = open_memstream(&buffer, &size);
  EXPECT_TRUE(run_caption(options, factory, testing::empty_env(), log).ok());
  std::fclose(log);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(CaptionRun, FirstClipsAllMissingAreNamedBeforeTheModelLoads) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  options.root = dir.path() / "elsewhere";
  FakeFactory factory({});
  const std::string log = run_log(options, factory);
  const std::string warning =
      "warning: the first 3 clip(s) left to caption do not exist "
      "('clips/c0.mp4' is looked for at " +
      (options.root / "clips/c0.mp4").string() +
      "); relative paths are resolved against --root, now " + options.root.string() + "\n";
  EXPECT_NE(log.find(warning), std::string::npos) << log;

  std::filesystem::create_directories(options.root / "clips");
  write_text(options.root / "clips/c1.mp4", "");
  const std::string one_there = run_log(options, factory);
  EXPECT_EQ(one_there.find("warning"), std::string::npos) << one_there;
}

}  // namespace
}  // namespace vcap::pipeline
