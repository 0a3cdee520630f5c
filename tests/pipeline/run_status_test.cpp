#include "pipeline/run_status.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "pipeline/fingerprint.h"
#include "pipeline/journal.h"
#include "pipeline/run_helpers.h"

namespace vcap::pipeline {
namespace {

using testing::FakeBehaviour;
using testing::FakeFactory;
using testing::quiet_options;
using testing::run_with;
using testing::TestDir;
using testing::write_meta;
using testing::write_text;

std::string this_host() {
  char host[256] = {};
  EXPECT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  return host;
}

// A pid of this host that is no longer running.
pid_t gone_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

// Rank `rank` of 3 over write_meta's rows, journaled by hand: `records` of its rows (each twice,
// as a crash between write and sync can leave), the first one failed, finished 2 s apart from
// `first_time` on when it is not 0; a done marker if `finished`.
void write_rank_journal(const std::filesystem::path& output, const CaptionOptions& options,
                        int rank, int records, bool finished, uint64_t total_rows,
                        double first_time = 0) {
  std::string text = journal_header_line({rank, 3, run_fingerprint(options, "fake-model")}) + "\n";
  for (int i = 0; i < records; ++i) {
    const uint64_t row = static_cast<uint64_t>(rank + 3 * i);
    const std::string path = "clips/c" + std::to_string(row) + ".mp4";
    const ClipStatus status = i == 0 ? ClipStatus::kOom : ClipStatus::kOk;
    for (int copy = 0; copy < 2; ++copy)
      text += journal_line({row, path, status, i == 0 ? "out of memory" : "", "a", 1,
                            first_time > 0 ? first_time + 2.0 * i : 0.0}) +
              "\n";
  }
  if (finished) text += journal_done_line(total_rows, static_cast<uint64_t>(records)) + "\n";
  write_text(journal_path(output, rank, 3), text);
}

TEST(RunStatus, NotStartedThenCompleteFromTheOutput) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 5));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  Result<RunStatus> before = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_EQ(before->state, RunState::kNotStarted);
  EXPECT_EQ(before->rows, 5u);
  EXPECT_EQ(format_run_status(*before),
            output.string() + ": not started (no journal, no output), 5 input rows\n");

  FakeBehaviour behaviour;
  behaviour.plan_failures["clips/c2.mp4"] = ClipOutcome::failure(ClipStatus::kNotFound, "gone");
  FakeFactory factory(behaviour);
  ASSERT_TRUE(run_with(options, factory).ok());
  Result<RunStatus> after = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(after->state, RunState::kComplete);
  EXPECT_EQ(format_run_status(*after), output.string() +
                                           ": complete, 5/5 rows done (100.0%), 1 without "
                                           "caption\nstatus: ok=4 not_found=1\n`vcap caption` "
                                           "with --retry failed (or a list of statuses) "
                                           "captions those again\n");
}

// The caption command's options, --world-size included, may be given to `vcap status` and
// `vcap merge`: once the output is written (its journals gone) the run is complete, not a run
// of unstarted ranks that merge would have rerun.
TEST(RunStatus, AWorldSizeGivenAfterTheMergeStillReadsTheOutput) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 5));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  Result<RunStatus> before = read_run_status(options.meta_path, output, 2);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_EQ(before->state, RunState::kNotStarted);
  options.world_size = 2;
  for (int rank = 0; rank < 2; ++rank) {
    options.rank = rank;
    FakeFactory factory({});
    ASSERT_TRUE(run_with(options, factory).ok());
  }
  Result<RunStatus> after = read_run_status(options.meta_path, output, 2);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(after->state, RunState::kComplete);
  EXPECT_EQ(after->done, 5u);
  testing::NullLog log;
  Result<MergeReport> merged = run_merge(options, log.get());
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("nothing to merge (the output is complete"),
            std::string::npos)
      << merged.status().message();
}

TEST(RunStatus, EachRankIsFinishedCaptioningStoppedOrNotStarted) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 10));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  write_rank_journal(output, options, 0, 4, /*finished=*/true, 10);
  write_rank_journal(output, options, 1, 2, /*finished=*/false, 10);
  write_text(journal_path(output, 1, 3).replace_extension(".lock"),
             this_host() + " " + std::to_string(::getpid()) + "\n");
  Result<RunStatus> status = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  EXPECT_EQ(status->state, RunState::kRunning);
  EXPECT_EQ(status->world_size, 3);
  EXPECT_EQ(status->done, 6u);  // duplicates counted once
  EXPECT_EQ(status->failed, 2u);
  EXPECT_EQ(status->counts,
            (std::map<ClipStatus, uint64_t>{{ClipStatus::kOk, 4}, {ClipStatus::kOom, 2}}));
  const std::string report = format_run_status(*status);
  EXPECT_NE(report.find(": running, 6/10 rows done (60.0%), 2 without caption\n"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("     0          4          4        1  finished\n"), std::string::npos)
      << report;
  EXPECT_NE(report.find("     1          3          2        1  captioning (" + this_host() + " " +
                        std::to_string(::getpid()) + "), last record "),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("     2          3          0        0  not started\n"), std::string::npos)
      << report;

  // Killed by SIGKILL: the lock file stays, naming a process that is gone.
  const std::string dead = this_host() + " " + std::to_string(gone_pid());
  write_text(journal_path(output, 1, 3).replace_extension(".lock"), dead + "\n");
  const std::string stopped = format_run_status(*read_run_status(options.meta_path, output, {}));
  EXPECT_NE(stopped.find("stopped (" + dead + " is gone), last record "), std::string::npos)
      << stopped;
  std::filesystem::remove(journal_path(output, 1, 3).replace_extension(".lock"));
  const std::string exited = format_run_status(*read_run_status(options.meta_path, output, {}));
  EXPECT_NE(exited.find("  stopped, last record "), std::string::npos) << exited;
  EXPECT_NE(exited.find(": rerun it to resume\n"), std::string::npos) << exited;
}

TEST(RunStatus, EveryRankFinishedIsMergingAndTheJsonSaysTheSame) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 7));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  write_rank_journal(output, options, 0, 3, true, 7);
  write_rank_journal(output, options, 1, 2, true, 7);
  write_rank_journal(output, options, 2, 2, true, 7);
  Result<RunStatus> status = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  EXPECT_EQ(status->state, RunState::kMerging);
  EXPECT_NE(format_run_status(*status).find("run `vcap merge`"), std::string::npos);
  const nlohmann::json json = nlohmann::json::parse(run_status_json(*status));
  EXPECT_EQ(json["state"], "merging");
  EXPECT_EQ(json["rows"], 7);
  EXPECT_EQ(json["done"], 7);
  EXPECT_EQ(json["failed"], 3);
  EXPECT_EQ(json["counts"]["oom"], 3);
  ASSERT_EQ(json["ranks"].size(), 3u);
  EXPECT_EQ(json["ranks"][2]["rows"], 2);
  EXPECT_EQ(json["ranks"][2]["state"], "finished");
}

TEST(RunStatus, RatesAndEtaComeFromTheFinishingTimesOfARunningRank) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 10));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  write_rank_journal(output, options, 0, 4, true, 10);
  write_rank_journal(output, options, 1, 2, false, 10, 1.8e9);
  write_rank_journal(output, options, 2, 3, true, 10);
  write_text(journal_path(output, 1, 3).replace_extension(".lock"),
             this_host() + " " + std::to_string(::getpid()) + "\n");
  Result<RunStatus> status = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  ASSERT_TRUE(status->ranks[1].clips_per_second.has_value());
  EXPECT_DOUBLE_EQ(*status->ranks[1].clips_per_second, 0.5);
  EXPECT_DOUBLE_EQ(status->ranks[1].eta_seconds.value_or(-1), 2.0);  // 1 row left
  EXPECT_DOUBLE_EQ(status->eta_seconds.value_or(-1), 2.0);
  const std::string report = format_run_status(*status);
  EXPECT_NE(report.find(": running, 9/10 rows done (90.0%), 3 without caption, ETA 2s\n"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find(" ago, 0.50 clips/s, ETA 2s\n"), std::string::npos) << report;

  // Without a process on the rank there is a rate but no ETA, for the rank or the run.
  std::filesystem::remove(journal_path(output, 1, 3).replace_extension(".lock"));
  Result<RunStatus> stopped = read_run_status(options.meta_path, output, std::nullopt);
  ASSERT_TRUE(stopped.ok());
  EXPECT_FALSE(stopped->ranks[1].eta_seconds.has_value());
  EXPECT_FALSE(stopped->eta_seconds.has_value());
}

TEST(RunStatus, ACaptionRunStampsEveryRecordWithItsFinishingTime) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 6));
  options.rank = 0;
  options.world_size = 2;  // leaves its journal: rank 1 has not run
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  FakeFactory factory({});
  ASSERT_TRUE(run_with(options, factory).ok());
  const double after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<double> times;
  Result<JournalScan> scan = scan_journal(
      journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 2), [&](JournalRecord&& record) {
        times.push_back(record.finished_at);
        return Status();
      });
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  ASSERT_EQ(times.size(), 3u);
  for (double time : times) {
    EXPECT_GE(time, before);
    EXPECT_LE(time, after);
  }
}

TEST(RunStatus, MissingInputAndMixedWorldSizesAreErrors) {
  TestDir dir;
  EXPECT_EQ(
      read_run_status(dir.path() / "none.csv", dir.path() / "o.csv", std::nullopt).status().code(),
      StatusCode::kNotFound);
  CaptionOptions options = quiet_options(write_meta(dir.path(), 4));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  write_rank_journal(output, options, 0, 1, false, 4);
  write_text(journal_path(output, 0, 2), journal_header_line({0, 2, "{}"}) + "\n");
  EXPECT_EQ(read_run_status(options.meta_path, output, std::nullopt).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vcap::pipeline
