// Crash-safety, resume and sharding of run_caption, with the fake captioner. Crashes are real:
// a forked child runs the library and is killed with SIGKILL (by itself at a chosen point, or by
// the parent at a random moment); the parent then reruns with the same options.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "pipeline/file_sync.h"
#include "pipeline/fingerprint.h"
#include "pipeline/journal.h"
#include "pipeline/merge.h"
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

constexpr int kRows = 40;

std::string reference_output(int rows) {
  TestDir dir;
  FakeFactory factory({});
  EXPECT_TRUE(run_with(quiet_options(write_meta(dir.path(), rows)), factory).ok());
  return read_text(dir.path() / "meta_caption_qwen2vl.csv");
}

// Forks a child that runs `options` with `behaviour` and exits 0 on success, 3 on failure.
pid_t start_child(const CaptionOptions& options, const FakeBehaviour& behaviour) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    FakeFactory factory(behaviour);
    const bool ok = run_with(options, factory).ok();
    ::_exit(ok ? 0 : 3);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

uint64_t journal_records(const std::filesystem::path& path) {
  Result<JournalScan> scan = scan_journal(path, [](JournalRecord&&) { return Status(); });
  return scan ? scan->records : 0;
}

TEST(Resume, KilledAfterSomeModelStepsThenRerunGivesTheUninterruptedOutput) {
  const std::string expected = reference_output(kRows);
  for (uint64_t kill_at_step : {1u, 7u, 25u}) {
    TestDir dir;
    CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
    options.bs = 3;
    FakeBehaviour crash;
    crash.on_step = [kill_at_step](uint64_t steps) {
      if (steps == kill_at_step) ::raise(SIGKILL);
    };
    ASSERT_TRUE(killed(wait_child(start_child(options, crash)))) << "step " << kill_at_step;
    const auto journal = journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1);
    const uint64_t before = journal_records(journal);
    EXPECT_LT(before, uint64_t{kRows});

    FakeFactory factory({});
    Result<CaptionRunReport> report = run_with(options, factory);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->resumed_rows, before);
    uint64_t captioned_now = 0;
    for (const auto& [status, count] : report->engine.counts) captioned_now += count;
    EXPECT_EQ(before + captioned_now, uint64_t{kRows});  // none twice, none lost
    EXPECT_EQ(report->merge->duplicate_records, 0u);
    EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
  }
}

TEST(Resume, KilledWhileDecodingThenRerunGivesTheUninterruptedOutput) {
  const std::string expected = reference_output(kRows);
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  options.decode_threads = 3;
  FakeBehaviour crash;
  crash.on_prepare = [](const ClipJob& job) {
    if (job.row_index == 17) ::raise(SIGKILL);
  };
  ASSERT_TRUE(killed(wait_child(start_child(options, crash))));
  FakeFactory factory({});
  ASSERT_TRUE(run_with(options, factory).ok());
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
}

TEST(Resume, KilledAtRandomMomentsThenRerunGivesTheUninterruptedOutput) {
  const std::string expected = reference_output(kRows);
  std::mt19937 random(20240611);
  for (int attempt = 0; attempt < 4; ++attempt) {
    TestDir dir;
    CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
    options.bs = 2;
    FakeBehaviour slow;  // about 1 ms per clip, so the kill lands somewhere in the run
    slow.on_prepare = [](const ClipJob&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    for (int kill = 0; kill < 2; ++kill) {
      const pid_t child = start_child(options, slow);
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 60000));
      ::kill(child, SIGKILL);
      wait_child(child);  // killed, or finished before the signal: both must resume cleanly
    }
    FakeFactory factory({});
    Result<CaptionRunReport> report = run_with(options, factory);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_TRUE(report->end == RunEnd::kMerged) << "attempt " << attempt;
    EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected)
        << "attempt " << attempt;
  }
}

TEST(Resume, TornJournalLineIsRecovered) {
  const std::string expected = reference_output(6);
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 6));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  FakeFactory factory({});
  // A journal with rows 0 and 1 done and half of row 2's line, as a kill mid-write leaves it.
  const std::string fingerprint = run_fingerprint(options, "fake-model");
  JournalRecord row0{0,
                     "clips/c0.mp4",
                     ClipStatus::kOk,
                     "",
                     testing::fake_caption("clips/c0.mp4", {4.0, 301056, 0, 0}),
                     3};
  JournalRecord row1{1,
                     "clips/c1.mp4",
                     ClipStatus::kOk,
                     "",
                     testing::fake_caption("clips/c1.mp4", {4.0, 301056, 0, 0}),
                     3};
  const std::string torn = journal_line({2, "clips/c2.mp4", ClipStatus::kOk, "", "par", 1});
  write_text(journal_path(output, 0, 1), journal_header_line({0, 1, fingerprint}) + "\n" +
                                             journal_line(row0) + "\n" + journal_line(row1) + "\n" +
                                             torn.substr(0, 20));
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->resumed_rows, 2u);
  EXPECT_EQ(read_text(output), expected);
}

TEST(Resume, ChangedSettingsAreRefusedUntilRestart) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 5));
  FakeBehaviour crash;
  crash.on_step = [](uint64_t steps) {
    if (steps == 12) ::raise(SIGKILL);
  };
  ASSERT_TRUE(killed(wait_child(start_child(options, crash))));
  // Some results to keep (a journal without any is simply replaced).
  const uint64_t records =
      journal_records(journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1));
  ASSERT_GE(records, 1u);
  ASSERT_LT(records, 5u);
  CaptionOptions changed = options;
  changed.question = "What happens in the video?";
  FakeFactory factory({});
  Result<CaptionRunReport> refused = run_with(changed, factory);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("question"), std::string::npos);
  EXPECT_NE(refused.status().message().find("--restart"), std::string::npos);
  EXPECT_EQ(factory.creates(), 0);

  FakeFactory other_model({}, "another-model");
  EXPECT_FALSE(run_with(options, other_model).ok());

  changed.restart = true;
  Result<CaptionRunReport> restarted = run_with(changed, factory);
  ASSERT_TRUE(restarted.ok()) << restarted.status().to_string();
  EXPECT_EQ(restarted->resumed_rows, 0u);
}

TEST(Resume, ChangedInputCsvIsRefused) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 6));
  FakeBehaviour crash;
  crash.on_step = [](uint64_t steps) {
    if (steps == 8) ::raise(SIGKILL);
  };
  ASSERT_TRUE(killed(wait_child(start_child(options, crash))));
  write_text(dir.path() / "meta.csv",
             "path,id\nother0.mp4,x\nother1.mp4,y\nother2.mp4,z\n"
             "other3.mp4,x\nother4.mp4,y\nother5.mp4,z\n");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("CSV changed"), std::string::npos)
      << report.status().message();
}

// Rows appended to the CSV while the model loads: the run captions the rows it counted at the
// start (reading no further: the journal's row table has no room for more), its merge then says
// the new rows have no record, and the rerun it points to captions them, continuing the finished
// journal, for the uninterrupted output of the grown CSV. Two ranks: the one that finished first
// also goes on.
TEST(Resume, RowsAppendedDuringTheRunAreCaptionedByTheRerun) {
  const std::string expected = reference_output(15);
  const std::string grown = [] {
    TestDir other;
    return read_text(write_meta(other.path(), 15));
  }();
  for (const int world : {1, 2}) {
    SCOPED_TRACE("world size " + std::to_string(world));
    TestDir dir;
    CaptionOptions options = quiet_options(write_meta(dir.path(), 10));
    options.world_size = world;
    FakeBehaviour appending;
    appending.on_create = [&] { write_text(dir.path() / "meta.csv", grown); };
    for (int rank = 0; rank < world; ++rank) {
      options.rank = rank;
      FakeFactory factory(rank == world - 1 ? appending : FakeBehaviour{});
      Result<CaptionRunReport> report = run_with(options, factory);
      if (rank < world - 1) {
        ASSERT_TRUE(report.ok()) << report.status().to_string();
        continue;
      }
      ASSERT_FALSE(report.ok());
      EXPECT_NE(report.status().message().find("rerun `vcap caption`"), std::string::npos)
          << report.status().message();
    }
    for (int rank = 0; rank < world; ++rank) {
      options.rank = rank;
      FakeFactory factory({});
      Result<CaptionRunReport> report = run_with(options, factory);
      ASSERT_TRUE(report.ok()) << report.status().to_string();
      EXPECT_EQ(report->total_rows, 15u);
    }
    EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
  }
}

TEST(Sharding, ThreeRanksInSequenceGiveTheSingleRankOutput) {
  const std::string expected = reference_output(kRows);
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  options.world_size = 3;
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  for (int rank = 0; rank < 3; ++rank) {
    options.rank = rank;
    FakeFactory factory({});
    Result<CaptionRunReport> report = run_with(options, factory);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->rows_owned, rank == 0 ? 14u : 13u);
    if (rank < 2) {
      EXPECT_EQ(report->end, RunEnd::kWaitingForRanks);
      EXPECT_FALSE(std::filesystem::exists(output));
    } else {
      EXPECT_EQ(report->end, RunEnd::kMerged);
    }
  }
  EXPECT_EQ(read_text(output), expected);
  Result<std::vector<std::pair<int, int>>> left = list_journals(output);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST(Sharding, ThreeRanksAsConcurrentProcessesGiveTheSingleRankOutput) {
  const std::string expected = reference_output(kRows);
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  options.world_size = 3;
  std::vector<pid_t> children;
  for (int rank = 0; rank < 3; ++rank) {
    options.rank = rank;
    children.push_back(start_child(options, {}));
  }
  for (pid_t child : children) {
    const int status = wait_child(child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(read_text(dir.path() / "meta_caption_qwen2vl.csv"), expected);
}

TEST(Sharding, RanksFromTheLauncherEnvironment) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 5));
  options.rank.reset();
  options.world_size.reset();
  FakeFactory factory({});
  testing::NullLog log;
  EnvLookup slurm = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "SLURM_PROCID") return "1";
    if (std::string(name) == "SLURM_STEP_NUM_TASKS") return "2";
    return std::nullopt;
  };
  Result<CaptionRunReport> report = run_caption(options, factory, slurm, log.get());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->shard.source, "slurm");
  EXPECT_EQ(report->rows_owned, 2u);  // rows 1 and 3
  EXPECT_EQ(report->end, RunEnd::kWaitingForRanks);
  EXPECT_EQ(report->unfinished_ranks, std::vector<int>{0});
}

TEST(Sharding, JournalsOfAnotherWorldSizeAreRefusedUntilRestart) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 6));
  options.rank = 0;
  options.world_size = 2;
  FakeFactory factory({});
  ASSERT_EQ(run_with(options, factory)->end, RunEnd::kWaitingForRanks);
  options.world_size = 3;
  Result<CaptionRunReport> refused = run_with(options, factory);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("world size 2"), std::string::npos);
  options.restart = true;
  EXPECT_TRUE(run_with(options, factory).ok());
}

// A run that stopped before its first clip finished (its GPU was missing, say) leaves a journal
// without records: a rerun with another world size or other settings replaces it, as nothing
// would be lost.
TEST(Sharding, JournalsWithoutRecordsOfAnotherWorldSizeAreReplaced) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 4));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const std::string fingerprint = run_fingerprint(options, "fake-model");
  write_text(journal_path(output, 1, 2), journal_header_line({1, 2, fingerprint}) + "\n");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kMerged);
  EXPECT_EQ(read_text(output), reference_output(4));
  EXPECT_FALSE(std::filesystem::exists(journal_path(output, 1, 2)));
}

TEST(Resume, JournalWithoutRecordsMadeWithOtherSettingsIsReplaced) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  CaptionOptions before = options;
  before.question = "What happens in the video?";
  write_text(journal_path(output, 0, 1),
             journal_header_line({0, 1, run_fingerprint(before, "fake-model")}) + "\n");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->resumed_rows, 0u);
  EXPECT_EQ(read_text(output), reference_output(3));
}

TEST(Merge, ExplicitMergeNamesUnfinishedRanksAndThenMerges) {
  const std::string expected = reference_output(7);
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 7));
  options.world_size = 2;
  options.rank = 1;
  FakeFactory factory({});
  ASSERT_TRUE(run_with(options, factory).ok());
  testing::NullLog log;
  CaptionOptions merge_options = quiet_options(dir.path() / "meta.csv");
  merge_options.rank.reset();
  merge_options.world_size.reset();
  Result<MergeReport> early = run_merge(merge_options, log.get());
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.status().message().find("rank(s) 0 of 2"), std::string::npos)
      << early.status().message();
  // Rank 0 finishes with --progress none and would merge itself; make it leave the merge to us
  // by holding the lock, as a concurrent merger would.
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  std::optional<Result<MergeLock>> merger(lock_merge(output));
  ASSERT_TRUE(merger->ok() && (*merger)->held);
  options.rank = 0;
  Result<CaptionRunReport> elsewhere = run_with(options, factory);
  ASSERT_TRUE(elsewhere.ok());
  ASSERT_EQ(elsewhere->end, RunEnd::kMergedElsewhere);
  EXPECT_NE(elsewhere->merger.find(std::to_string(::getpid())), std::string::npos)
      << elsewhere->merger;  // named, for the message
  Result<MergeReport> refused = run_merge(merge_options, log.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is merging into"), std::string::npos);
  merger.reset();
  Result<MergeReport> merged = run_merge(merge_options, log.get());
  ASSERT_TRUE(merged.ok()) << merged.status().to_string();
  EXPECT_EQ(merged->rows, 7u);
  EXPECT_EQ(read_text(output), expected);
}

// A merger killed on another machine leaves its lock file, but not its lock, and its half-written
// output: the next rank to finish merges and removes that.
TEST(Merge, TheLockFileOfAMergerThatDiedIsTakenOver) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 4));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  write_text(output.string() + ".merge.lock", "otherhost 4242\n");
  write_text(output.string() + ".merging.4242", "half a merge");
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->end, RunEnd::kMerged);
  EXPECT_EQ(read_text(output), reference_output(4));
  EXPECT_FALSE(std::filesystem::exists(output.string() + ".merge.lock"));
  EXPECT_FALSE(std::filesystem::exists(output.string() + ".merging.4242"));  // its leftover
}

TEST(Merge, ARowMissingFromTheJournalsFailsLoudly) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), 3));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const std::string fingerprint = run_fingerprint(options, "fake-model");
  write_text(journal_path(output, 0, 1),
             journal_header_line({0, 1, fingerprint}) + "\n" +
                 journal_line({0, "clips/c0.mp4", ClipStatus::kOk, "", "a", 1}) + "\n" +
                 journal_line({2, "clips/c2.mp4", ClipStatus::kOk, "", "c", 1}) + "\n" +
                 journal_done_line(3, 3) + "\n");
  Result<MergeReport> merged = merge_journals(options.meta_path, output, 1, fingerprint);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("row 1 ('clips/c1.mp4') has no record"),
            std::string::npos)
      << merged.status().message();
  EXPECT_FALSE(std::filesystem::exists(output));
  EXPECT_TRUE(std::filesystem::exists(journal_path(output, 0, 1)));  // kept for a rerun
}

}  // namespace
}  // namespace vcap::pipeline
