// A clip that kills the process: struck once, captioned alone on the rerun, struck twice and
// skipped on the next, so that the rank finishes (crash_guard.h). Deaths are real: forked
// children SIGKILL themselves when the poison clip is prepared.
#include "pipeline/crash_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "pipeline/journal.h"
#include "pipeline/resume_state.h"
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

constexpr int kRows = 12;
const std::string kPoison = "clips/c5.mp4";

// Runs `options` in a child that dies by SIGKILL when it prepares the poison clip; true when it
// died that way.
bool run_and_die_on_poison(const CaptionOptions& options) {
  const pid_t child = ::fork();
  if (child == 0) {
    FakeBehaviour poison;
    poison.on_prepare = [](const ClipJob& job) {
      if (job.path == kPoison) ::raise(SIGKILL);
    };
    FakeFactory factory(poison);
    const bool ran = run_with(options, factory).ok();
    ::_exit(ran ? 0 : 3);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST(CrashGuard, AClipThatKillsTheProcessIsCaptionedAloneThenSkipped) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  options.bs = 4;
  options.decode_threads = 2;
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const auto journal = journal_path(output, 0, 1);

  // With clips around it in flight, then alone, and alone again: three deaths at most, then a
  // run that skips it and finishes.
  int deaths = 0;
  while (deaths < 4 && run_and_die_on_poison(options)) ++deaths;
  EXPECT_GE(deaths, 2);
  EXPECT_LE(deaths, 3);
  const std::string text = read_text(output);
  EXPECT_NE(text.find("clips/c5.mp4,id5,,internal,\"vcap's process died twice while captioning "
                      "this clip with no other clip in flight"),
            std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), kRows + 1);
  const auto count = [&text](const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(",internal,"), 1u);
  EXPECT_EQ(count(",ok,"), size_t{kRows} - 1);
  EXPECT_FALSE(std::filesystem::exists(in_flight_path(journal)));
  EXPECT_FALSE(std::filesystem::exists(suspects_path(journal)));
}

TEST(CrashGuard, RowsLeftInFlightByAStopAreOnlyCaptionedAloneNextTime) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  const auto output = dir.path() / "meta_caption_qwen2vl.csv";
  const auto journal = journal_path(output, 0, 1);
  std::filesystem::create_directories(dir.path());
  {
    InFlightRows in_flight(in_flight_path(journal));
    ASSERT_TRUE(in_flight.add(3, "clips/c3.mp4").ok());
    ASSERT_TRUE(in_flight.add(7, "clips/c7.mp4").ok());
    ASSERT_TRUE(in_flight.remove(3).ok());
  }
  auto order = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  FakeBehaviour recording;
  recording.on_prepare = [order, mutex](const ClipJob& job) {
    const std::lock_guard lock(*mutex);
    order->push_back(job.path);
  };
  FakeFactory factory(recording);
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* log = open_memstream(&buffer, &size);
  Result<CaptionRunReport> report = run_caption(options, factory, testing::empty_env(), log);
  std::fclose(log);
  const std::string text(buffer, size);
  std::free(buffer);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(text.find("vcap: 1 clip(s) were in flight when a vcap process of this rank died: "
                      "they are captioned first, one at a time\n"),
            std::string::npos)
      << text;
  ASSERT_FALSE(order->empty());
  EXPECT_EQ(order->front(), "clips/c7.mp4");  // the struck row first, then the others
  EXPECT_EQ(order->size(), size_t{kRows});
  EXPECT_EQ(report->merge->counts.at(ClipStatus::kOk), uint64_t{kRows});
}

// A run that ends in an error it reports (here a device failing every clip) was not killed by a
// clip: it leaves no list, so the rerun strikes no row and captions in batches as usual.
TEST(CrashGuard, ARunThatEndsInAnErrorLeavesNoRowInFlight) {
  TestDir dir;
  const CaptionOptions options = quiet_options(write_meta(dir.path(), 40));
  FakeBehaviour failing;
  for (int i = 0; i < 40; ++i) {
    failing.model_failures["clips/c" + std::to_string(i) + ".mp4"] =
        ClipOutcome::failure(ClipStatus::kInternal, "cuda:0: cudaErrorIllegalAddress");
  }
  FakeFactory factory(failing);
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("in a row"), std::string::npos)
      << report.status().message();
  const auto journal = journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1);
  EXPECT_FALSE(std::filesystem::exists(in_flight_path(journal)));
  Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
  ASSERT_TRUE(suspects.ok());
  EXPECT_TRUE(suspects->empty());
}

// A journal without results, made with other settings, is replaced, and with it go the strikes
// given under those settings: a clip that killed the process at its first try twice (the OOM
// killer, say) is tried again after --height is lowered, not skipped as internal.
TEST(CrashGuard, AJournalReplacedForOtherSettingsForgetsItsStrikes) {
  TestDir dir;
  const auto journal = journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1);
  ASSERT_TRUE(JournalWriter::create(journal, {0, 1, R"({"height":448})"}).ok());
  testing::write_text(suspects_path(journal),
                      "{\"id\":\"7@1\"}\n"
                      "{\"row\":0,\"path\":\"clips/c0.mp4\",\"strikes\":2,\"alone\":2}\n");
  Result<ResumeState> state = load_journal(journal, Shard{0, 1, ""}, 12, R"({"height":336})");
  ASSERT_TRUE(state.ok()) << state.status().to_string();
  EXPECT_FALSE(state->exists);
  EXPECT_FALSE(std::filesystem::exists(suspects_path(journal)));
}

TEST(CrashGuard, RestartForgetsTheStrikes) {
  TestDir dir;
  CaptionOptions options = quiet_options(write_meta(dir.path(), kRows));
  const auto journal = journal_path(dir.path() / "meta_caption_qwen2vl.csv", 0, 1);
  // Deaths until the poison is struck alone twice (two or three: whether others were in flight
  // at the first depends on timing), when a run without --restart would skip it.
  for (int death = 0;; ++death) {
    Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
    ASSERT_TRUE(suspects.ok()) << suspects.status().to_string();
    if (suspects->contains(5) && suspects->at(5).alone >= 2) break;
    ASSERT_LT(death, 3);
    ASSERT_TRUE(run_and_die_on_poison(options));
  }
  ASSERT_TRUE(std::filesystem::exists(suspects_path(journal)));
  options.restart = true;
  FakeFactory factory({});
  Result<CaptionRunReport> report = run_with(options, factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->merge->counts.at(ClipStatus::kOk), uint64_t{kRows});  // c5 captioned
  EXPECT_FALSE(std::filesystem::exists(suspects_path(journal)));
}

TEST(CrashGuard, AListIsCountedOnceAndBadLinesAreSkipped) {
  TestDir dir;
  const auto journal = dir.path() / "out.csv.rank0-of-1.journal";
  const std::string list =
      "{\"id\":\"7@1\"}\n{\"row\":4,\"path\":\"a.mp4\"}\n{\"row\":\"x\"}\n{\"row\":9,\"pa";
  testing::write_text(in_flight_path(journal), list);
  Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
  ASSERT_TRUE(suspects.ok());
  ASSERT_EQ(suspects->size(), 1u);
  EXPECT_EQ(suspects->at(4).path, "a.mp4");
  EXPECT_EQ(suspects->at(4).strikes, 1);
  EXPECT_EQ(suspects->at(4).alone, 1);  // the list's only row
  EXPECT_FALSE(std::filesystem::exists(in_flight_path(journal)));
  // The same list again (a start that died before removing it) is not counted twice.
  testing::write_text(in_flight_path(journal), list);
  EXPECT_EQ(strike_rows_left_in_flight(journal)->at(4).strikes, 1);
  // A new list with two rows: a strike each, not alone.
  testing::write_text(in_flight_path(journal),
                      "{\"id\":\"8@2\"}\n{\"row\":4,\"path\":\"a.mp4\"}\n"
                      "{\"row\":6,\"path\":\"b.mp4\"}\n");
  Result<std::map<uint64_t, Suspect>> again = strike_rows_left_in_flight(journal);
  EXPECT_EQ(again->at(4).strikes, 2);
  EXPECT_EQ(again->at(4).alone, 1);
  EXPECT_EQ(again->at(6).alone, 0);
}

// The list is a log appended a line per event (no rename per clip: a network filesystem's
// slowest operation); it is rewritten when it outgrows the rows in flight, and what a death
// leaves reads back as the rows in flight, a torn last line skipped.
TEST(CrashGuard, TheInFlightLogStaysSmallAndReadsBackAsTheRowsInFlight) {
  TestDir dir;
  const auto journal = dir.path() / "out.csv.rank0-of-1.journal";
  std::filesystem::create_directories(dir.path());
  {
    InFlightRows in_flight(in_flight_path(journal));
    ASSERT_TRUE(in_flight.add(0, "first.mp4").ok());
    const auto inode = [&journal] {
      struct stat info {};
      EXPECT_EQ(::stat(in_flight_path(journal).c_str(), &info), 0);
      return info.st_ino;
    };
    const ino_t first = inode();
    ASSERT_TRUE(in_flight.add(1, "clips/c1.mp4").ok());
    EXPECT_EQ(inode(), first);  // appended to, not replaced
    ASSERT_TRUE(in_flight.remove(1).ok());
    EXPECT_EQ(inode(), first);
    for (uint64_t row = 1; row <= 2000; ++row) {
      ASSERT_TRUE(in_flight.add(row, "clips/c" + std::to_string(row) + ".mp4").ok());
      if (row > 1) {
        ASSERT_TRUE(in_flight.remove(row - 1).ok());
      }
      const std::string text = read_text(in_flight_path(journal));
      ASSERT_LE(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')),
                2 * 2 + InFlightRows::kLinesBeforeCompaction + 2)
          << "row " << row;
    }
  }  // dies here, as it were, with rows 0 and 2000 in flight
  std::string text = read_text(in_flight_path(journal));
  text += "{\"done\":20";  // torn
  testing::write_text(in_flight_path(journal), text);
  Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
  ASSERT_TRUE(suspects.ok()) << suspects.status().to_string();
  ASSERT_EQ(suspects->size(), 2u);
  EXPECT_EQ(suspects->at(0).path, "first.mp4");
  EXPECT_EQ(suspects->at(2000).path, "clips/c2000.mp4");
  EXPECT_EQ(suspects->at(2000).alone, 0);
}

// The strikes name a row's path byte for byte (a row struck twice is journaled with it, and the
// merge matches it with the CSV's), also when it is not UTF-8.
TEST(CrashGuard, APathThatIsNotUtf8IsStruckByteForByte) {
  TestDir dir;
  const auto journal = dir.path() / "out.csv.rank0-of-1.journal";
  std::filesystem::create_directories(dir.path());
  const std::string latin1 = "vid\xe9o.mp4";
  for (int death = 1; death <= 2; ++death) {
    InFlightRows in_flight(in_flight_path(journal));
    ASSERT_TRUE(in_flight.add(3, latin1).ok());
    Result<std::map<uint64_t, Suspect>> suspects = strike_rows_left_in_flight(journal);
    ASSERT_TRUE(suspects.ok()) << suspects.status().to_string();
    ASSERT_EQ(suspects->size(), 1u);
    EXPECT_EQ(suspects->at(3).path, latin1);
    EXPECT_EQ(suspects->at(3).alone, death);
  }
}

}  // namespace
}  // namespace vcap::pipeline
