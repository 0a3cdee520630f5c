// --retry: only the rows of the earlier output with the named statuses are captioned again.
#include "pipeline/retry.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "pipeline/file_sync.h"
#include "pipeline/journal.h"
#include "pipeline/run_helpers.h"

namespace vcap::pipeline {
namespace {

using testing::FakeBehaviour;
using testing::FakeFactory;
using testing::quiet_options;
using testing::read_text;
using testing::run_with;
using testing::TestDir;
using testing::write_meta;
using testing::write_text;

constexpr int kRows = 12;

// The first run's failures: c3 and c7 ran out of memory, c5 timed out, c9 was not found.
FakeBehaviour first_run_failures() {
  FakeBehaviour behaviour;
  behaviour.model_failures["clips/c3.mp4"] =
      ClipOutcome::failure(ClipStatus::kOom, "out of memory");
  behaviour.model_failures["clips/c7.mp4"] =
      ClipOutcome::failure(ClipStatus::kOom, "out of memory");
  behaviour.prepare_failures["clips/c5.mp4"] =
      ClipOutcome::failure(ClipStatus::kTimeout, "decoding took over 600 s");
  behaviour.plan_failures["clips/c9.mp4"] =
      ClipOutcome::failure(ClipStatus::kNotFound, "media: clips/c9.mp4: no such file");
  return behaviour;
}

// A behaviour without failures that records the paths it prepares.
struct Recorder {
  std::shared_ptr<std::vector<std::string>> prepared = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();

  FakeBehaviour behaviour() const {
    FakeBehaviour recording;
    recording.on_prepare = [prepared = prepared, mutex = mutex](const ClipJob& job) {
      const std::lock_guard lock(*mutex);
      prepared->push_back(job.path);
    };
    return recording;
  }
  std::vector<std::string> sorted() const {
    std::vector<std::string> paths = *prepared;
    std::sort(paths.begin(), paths.end());
    return paths;
  }
};

std::string caption_row(int i) {
  return "clips/c" + std::to_string(i) + ".mp4,id" + std::to_string(i) + ",\"caption of clips/c" +
         std::to_string(i) + ".mp4 (fps 4, max_pixels 301056)\",ok,\n";
}

// Runs the first pass (with first_run_failures) and returns its options.
CaptionOptions caption_with_failures(const TestDir& dir) {
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  FakeFactory factory(first_run_failures());
  Result<CaptionRunReport> report = run_with(options, factory);
  EXPECT_TRUE(report.ok()) << report.status().to_string();
  return options;
}

TEST(RetryStatuses, FailedMeansEveryStatusWithoutACaption) {
  Result<std::vector<ClipStatus>> failed = parse_retry_statuses("failed");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->size(), std::size(kAllClipStatuses) - 2);
  EXPECT_TRUE(std::none_of(failed->begin(), failed->end(), has_caption));
  EXPECT_EQ(retry_statuses_text(*parse_retry_statuses(retry_statuses_text(*failed))),
            retry_statuses_text(*failed));
}

TEST(RetryStatuses, ListIsReadOnceEachAndUnknownNamesAreRefused) {
  Result<std::vector<ClipStatus>> list = parse_retry_statuses("oom,timeout,oom");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<ClipStatus>{ClipStatus::kOom, ClipStatus::kTimeout}));
  for (const char* bad : {"oom,tiemout", "oom,", "", "OOM"}) {
    Result<std::vector<ClipStatus>> refused = parse_retry_statuses(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("known: failed, ok, fitted"), std::string::npos);
  }
}

TEST(Retry, CaptionsOnlyTheRowsWithTheNamedStatusesAndKeepsTheRest) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const std::string first = read_text(output);
  ASSERT_NE(first.find("clips/c3.mp4,id3,,oom,out of memory\n"), std::string::npos) << first;

  Recorder recorder;
  FakeFactory factory(recorder.behaviour());
  options.retry = {ClipStatus::kOom, ClipStatus::kTimeout};
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(recorder.sorted(),
            (std::vector<std::string>{"clips/c3.mp4", "clips/c5.mp4", "clips/c7.mp4"}));
  EXPECT_EQ(report->retry.kept, uint64_t{kRows} - 3);
  EXPECT_EQ(report->retry.retried,
            (std::map<ClipStatus, uint64_t>{{ClipStatus::kOom, 2}, {ClipStatus::kTimeout, 1}}));
  std::string expected = "path,id,text,caption_status,caption_error\n";
  for (int i = 0; i < kRows; ++i) {
    expected +=
        i == 9 ? "clips/c9.mp4,id9,,not_found,media: clips/c9.mp4: no such file\n" : caption_row(i);
  }
  EXPECT_EQ(read_text(output), expected);
}

TEST(Retry, NothingToRetryLoadsNoModelAndKeepsTheOutput) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const std::string first = read_text(output);
  FakeFactory factory({});
  options.retry = {ClipStatus::kTooLarge};
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(factory.creates(), 0);
  EXPECT_EQ(report->retry.kept, uint64_t{kRows});
  EXPECT_EQ(read_text(output), first);
}

TEST(Retry, RowsAppendedToTheCsvSinceAreCaptionedToo) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  write_meta(dir.path(), kRows + 3);
  Recorder recorder;
  FakeFactory factory(recorder.behaviour());
  options.retry = {ClipStatus::kNotFound};
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->retry.added, 3u);
  EXPECT_EQ(report->retry.kept, uint64_t{kRows} - 1);
  EXPECT_EQ(recorder.sorted(), (std::vector<std::string>{"clips/c12.mp4", "clips/c13.mp4",
                                                         "clips/c14.mp4", "clips/c9.mp4"}));
  const std::string output = read_text(dir.path() / "meta_caption_qwen2vl.csv");
  EXPECT_NE(output.find("clips/c3.mp4,id3,,oom,out of memory\n"), std::string::npos) << output;
  EXPECT_NE(output.find(caption_row(9) + caption_row(10) + caption_row(11) + caption_row(12) +
                        caption_row(13) + caption_row(14)),
            std::string::npos)
      << output;
}

TEST(Retry, RanksEachRetryTheirOwnRows) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  options.retry = *parse_retry_statuses("failed");
  options.world_size = 3;
  Recorder recorder;
  for (int rank = 0; rank < 3; ++rank) {
    options.rank = rank;
    FakeFactory factory(recorder.behaviour());
    Result<CaptionRunReport> report = run_with(options, factory);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->end, rank < 2 ? RunEnd::kWaitingForRanks : RunEnd::kMerged);
  }
  EXPECT_EQ(recorder.sorted(), (std::vector<std::string>{"clips/c3.mp4", "clips/c5.mp4",
                                                         "clips/c7.mp4", "clips/c9.mp4"}));
  std::string expected = "path,id,text,caption_status,caption_error\n";
  for (int i = 0; i < kRows; ++i) expected += caption_row(i);
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
}

TEST(Retry, KilledMidRetryThenRerunKeepsWhatBothRunsDid) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  options.retry = {ClipStatus::kOom, ClipStatus::kTimeout, ClipStatus::kNotFound};
  const pid_t child = ::fork();
  if (child == 0) {
    FakeBehaviour crash;
    crash.on_step = [](uint64_t steps) {
      if (steps == 2) ::raise(SIGKILL);
    };
    FakeFactory factory(crash);
    const bool ran = run_with(options, factory).ok();
    ::_exit(ran ? 0 : 3);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  Recorder recorder;
  FakeFactory factory(recorder.behaviour());
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  // The kept rows were journaled before the kill; only retried rows are left, none twice.
  EXPECT_EQ(report->retry.kept, 0u);
  EXPECT_LE(recorder.prepared->size(), 4u);
  EXPECT_EQ(report->merge->duplicate_records, 0u);
  std::string expected = "path,id,text,caption_status,caption_error\n";
  for (int i = 0; i < kRows; ++i) expected += caption_row(i);
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
}

// A run that finished but was not merged (its merger stopped; here another process held the
// merge lock) leaves the newest results in its journal, with no output to retry from yet: the
// retry merges them first, then retries the failed rows of that output.
TEST(Retry, JournalsFinishedButNotMergedAreMergedThenRetried) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  {
    Result<MergeLock> held_elsewhere = lock_merge(output);
    ASSERT_TRUE(held_elsewhere.ok() && held_elsewhere->held);
    FakeFactory factory(first_run_failures());
    Result<CaptionRunReport> first = run_with(options, factory);
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    ASSERT_EQ(first->end, RunEnd::kMergedElsewhere);
  }
  ASSERT_FALSE(std::filesystem::exists(output));

  Recorder recorder;
  FakeFactory factory(recorder.behaviour());
  options.retry = *parse_retry_statuses("failed");
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kMerged);
  EXPECT_EQ(recorder.sorted(), (std::vector<std::string>{"clips/c3.mp4", "clips/c5.mp4",
                                                         "clips/c7.mp4", "clips/c9.mp4"}));
  EXPECT_EQ(report->retry.kept, uint64_t{kRows} - 4);
  std::string expected = "path,id,text,caption_status,caption_error\n";
  for (int i = 0; i < kRows; ++i) expected += caption_row(i);
  EXPECT_EQ(read_text(output), expected);
}

// Where other ranks have not finished, the finished rank cannot merge: it says that its rows
// wait for a --retry run after the merge, rather than pass for retried.
TEST(Retry, AFinishedRankWaitingForOthersSaysItsRowsAreNotRetriedYet) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  options.world_size = 2;
  FakeFactory first_factory(first_run_failures());
  ASSERT_TRUE(run_with(options, first_factory).ok());

  options.retry = *parse_retry_statuses("failed");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kWaitingForRanks);
  EXPECT_TRUE(report->retry_after_merge);
  EXPECT_EQ(factory.creates(), 0);
}

TEST(Retry, WithoutAnEarlierOutputIsRefused) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  options.retry = {ClipStatus::kOom};
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kNotFound);
  EXPECT_NE(report.status().message().find("run without --retry first"), std::string::npos)
      << report.status().message();
  EXPECT_EQ(factory.creates(), 0);
  // No journal is left behind, which `vcap status` would take for a run under way.
  EXPECT_FALSE(std::filesystem::exists(journal_path(output_path(options), 0, 1)));
}

TEST(Retry, OutputOfAnotherCsvIsRefusedAndLeftAsItIs) {
  TestDir dir;
  CaptionOptions options = caption_with_failures(dir);
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const std::string first = read_text(output);
  options.retry = {ClipStatus::kOom};
  FakeFactory factory({});
  write_meta(dir.path(), kRows - 1);
  Result<CaptionRunReport> shorter = run_with(options, factory);
  ASSERT_FALSE(shorter.ok());
  EXPECT_NE(shorter.status().message().find("it has more rows than the input"), std::string::npos)
      << shorter.status().message();

  std::string moved = "path,id\n";
  for (int i = 0; i < kRows; ++i) moved += "clips/c" + std::to_string(i == 8 ? 80 : i) + ".mp4,x\n";
  write_text(dir.path() / "meta.csv", moved);
  Result<CaptionRunReport> other = run_with(options, factory);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("row 8 has another path"), std::string::npos)
      << other.status().message();
  EXPECT_EQ(read_text(output), first);
  EXPECT_EQ(factory.creates(), 0);
  EXPECT_FALSE(std::filesystem::exists(journal_path(output, 0, 1)));

  // The refusals kept nothing: a plain run captions every row again.
  Recorder recorder;
  FakeFactory plain(recorder.behaviour());
  options.retry.clear();
  Result<CaptionRunReport> report = run_with(options, plain);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->resumed_rows, 0u);
  EXPECT_EQ(recorder.prepared->size(), size_t{kRows});
}

TEST(Retry, OutputWithoutStatusColumnIsRefused) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 2));
  write_text(dir.path() / "meta_caption_qwen2vl.csv",
             "path,id,text\nclips/c0.mp4,id0,a\nclips/c1.mp4,id1,b\n");
  options.retry = {ClipStatus::kOom};
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("no 'caption_status' column"), std::string::npos)
      << report.status().message();
}

TEST(Retry, ContradictsSkipIfExisting) {
  CaptionOptions options;
  options.meta_path = "m.csv";
  options.retry = {ClipStatus::kOom};
  options.skip_if_existing = true;
  const Status status = validate(options);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--retry and --skip-if-existing"), std::string::npos);
}

}  // namespace
}  // namespace vcap::pipeline
