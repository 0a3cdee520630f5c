#include "pipeline/caption_engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "pipeline/fake_captioner.h"

namespace vcap::pipeline {
namespace {

using testing::FakeBehaviour;
using testing::FakeCaptioner;

std::vector<ClipJob> make_jobs(int count) {
  std::vector<ClipJob> jobs;
  for (int i = 0; i < count; ++i) {
    const std::string path = "clip" + std::to_string(i) + ".mp4";
    jobs.push_back({static_cast<uint64_t>(i), path, path});
  }
  return jobs;
}

struct EngineRun {
  Status status;
  std::map<uint64_t, JournalRecord> records;
  std::vector<uint64_t> order;
  EngineReport report;
};

EngineRun run(const EngineConfig& config, FakeCaptioner& captioner,
              const std::vector<ClipJob>& jobs) {
  size_t next = 0;
  JobSource source = [&]() -> Result<std::optional<ClipJob>> {
    if (next == jobs.size()) return std::optional<ClipJob>();
    return std::optional<ClipJob>(jobs[next++]);
  };
  EngineRun result;
  RecordSink sink = [&](const JournalRecord& record) {
    EXPECT_EQ(result.records.count(record.row_index), 0u) << "row twice: " << record.row_index;
    result.records[record.row_index] = record;
    result.order.push_back(record.row_index);
    return Status();
  };
  Result<EngineReport> report = run_engine(config, captioner, source, sink, nullptr);
  result.status = report.status();
  if (report) result.report = *report;
  return result;
}

EngineConfig config_with(int bs, int decode_threads = 2) {
  EngineConfig config;
  config.settings = {4.0, 448 * 672, 0, 0};
  config.budget_bytes = uint64_t{1} << 40;
  config.bs = bs;
  config.decode_threads = decode_threads;
  config.prefetch = 2 * bs + 2;
  return config;
}

TEST(CaptionEngine, EveryJobReachesTheSinkExactlyOnce) {
  FakeCaptioner captioner({});
  const std::vector<ClipJob> jobs = make_jobs(50);
  EngineRun result = run(config_with(1), captioner, jobs);
  ASSERT_TRUE(result.status.ok()) << result.status.to_string();
  ASSERT_EQ(result.records.size(), 50u);
  for (const ClipJob& job : jobs) {
    const JournalRecord& record = result.records.at(job.row_index);
    EXPECT_EQ(record.path, job.path);
    EXPECT_EQ(record.status, ClipStatus::kOk);
    EXPECT_EQ(record.text, testing::fake_caption(job.path, config_with(1).settings));
  }
  EXPECT_EQ(result.report.counts.at(ClipStatus::kOk), 50u);
}

TEST(CaptionEngine, BatchOfFourGivesTheSameRecordsAsOneAndReallyBatches) {
  FakeCaptioner one({});
  FakeCaptioner four({});
  const std::vector<ClipJob> jobs = make_jobs(40);
  EngineRun single = run(config_with(1), one, jobs);
  EngineRun batched = run(config_with(4, 3), four, jobs);
  ASSERT_TRUE(single.status.ok());
  ASSERT_TRUE(batched.status.ok());
  ASSERT_EQ(single.records.size(), batched.records.size());
  for (const auto& [row, record] : single.records) {
    EXPECT_EQ(batched.records.at(row).text, record.text);
    EXPECT_EQ(batched.records.at(row).status, record.status);
  }
  EXPECT_EQ(one.max_batch(), 1u);
  EXPECT_EQ(four.max_batch(), 4u);
}

TEST(CaptionEngine, FailuresOfEveryStageBecomeRowStatuses) {
  FakeBehaviour behaviour;
  behaviour.plan_failures["clip1.mp4"] =
      ClipOutcome::failure(ClipStatus::kNotFound, "media: clip1.mp4: no such file");
  behaviour.prepare_failures["clip2.mp4"] =
      ClipOutcome::failure(ClipStatus::kDecodeError, "bad\nframe");
  behaviour.model_failures["clip3.mp4"] = ClipOutcome::failure(ClipStatus::kOom, "out of memory");
  behaviour.throw_in_prepare["clip4.mp4"] = "boom";
  FakeCaptioner captioner(behaviour);
  EngineRun result = run(config_with(2), captioner, make_jobs(6));
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(result.records.at(1).status, ClipStatus::kNotFound);
  EXPECT_EQ(result.records.at(1).error, "media: clip1.mp4: no such file");
  EXPECT_EQ(result.records.at(2).status, ClipStatus::kDecodeError);
  EXPECT_EQ(result.records.at(2).error, "bad frame");  // always one line
  EXPECT_EQ(result.records.at(3).status, ClipStatus::kOom);
  EXPECT_EQ(result.records.at(3).text, "");
  EXPECT_EQ(result.records.at(4).status, ClipStatus::kInternal);
  EXPECT_EQ(result.records.at(4).error, "unexpected exception: boom");
  EXPECT_EQ(result.records.at(5).status, ClipStatus::kOk);
  EXPECT_EQ(result.records.at(0).status, ClipStatus::kOk);
}

// A device that fails every clip stops the run after kInternalFailuresToStop clips in a row,
// each journaled as internal, instead of marking the whole dataset failed.
TEST(CaptionEngine, ClipsFailingInsideTheModelOneAfterAnotherStopTheRun) {
  FakeBehaviour behaviour;
  for (int i = 0; i < 60; ++i) {
    behaviour.model_failures["clip" + std::to_string(i) + ".mp4"] =
        ClipOutcome::failure(ClipStatus::kInternal, "cuda:0: cudaErrorIllegalAddress");
  }
  FakeCaptioner captioner(behaviour);
  EngineRun result = run(config_with(4), captioner, make_jobs(60));
  ASSERT_FALSE(result.status.ok());
  EXPECT_NE(result.status.message().find("16 clips in a row failed inside the model (the last: "
                                         "cuda:0: cudaErrorIllegalAddress)"),
            std::string::npos)
      << result.status.message();
  EXPECT_NE(result.status.message().find("--retry internal"), std::string::npos);
  ASSERT_EQ(result.records.size(), size_t{kInternalFailuresToStop});
  for (const auto& [row, record] : result.records) EXPECT_EQ(record.status, ClipStatus::kInternal);
}

// A captioner that throws while a clip joins its batch (not a clip's failure: the batch itself
// may be broken) ends the run with an error naming it, instead of leaving the decode threads
// blocked forever.
TEST(CaptionEngine, AThrowWhileAddingToTheBatchEndsTheRunWithAnError) {
  FakeBehaviour behaviour;
  behaviour.throw_in_add["clip3.mp4"] = "batch state lost";
  FakeCaptioner captioner(behaviour);
  EngineRun result = run(config_with(2), captioner, make_jobs(40));
  ASSERT_FALSE(result.status.ok());
  EXPECT_NE(result.status.message().find("batch state lost"), std::string::npos)
      << result.status.message();
}

// Failures with captions between them, or outside the model, are the clips' own: the run goes on.
TEST(CaptionEngine, InternalFailuresBetweenCaptionsOrBeforeTheModelDoNotStopTheRun) {
  FakeBehaviour behaviour;
  for (int i = 0; i < 60; ++i) {
    const std::string path = "clip" + std::to_string(i) + ".mp4";
    if (i % 8 != 0) {
      behaviour.model_failures[path] = ClipOutcome::failure(ClipStatus::kInternal, "odd");
    }
    if (i >= 40) behaviour.throw_in_prepare[path] = "decoder fault";
  }
  FakeCaptioner captioner(behaviour);
  EngineRun result = run(config_with(1), captioner, make_jobs(60));
  ASSERT_TRUE(result.status.ok()) << result.status.to_string();
  EXPECT_EQ(result.records.size(), 60u);
  EXPECT_EQ(result.report.counts[ClipStatus::kOk], 5u);
  EXPECT_EQ(result.report.counts[ClipStatus::kInternal], 55u);
}

TEST(CaptionEngine, OverBudgetClipIsTooLargeAndTheRunGoesOn) {
  FakeBehaviour behaviour;
  behaviour.cost_multiplier["clip2.mp4"] = 1000;
  FakeCaptioner captioner(behaviour);
  EngineConfig config = config_with(1);
  config.budget_bytes = 3 * testing::fake_cost_bytes(config.settings, 1.0);
  EngineRun result = run(config, captioner, make_jobs(4));
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(result.records.at(2).status, ClipStatus::kTooLarge);
  EXPECT_EQ(result.records.at(2).text, "");
  EXPECT_NE(result.records.at(2).error.find("over the"), std::string::npos);
  EXPECT_NE(result.records.at(2).error.find("--fit"), std::string::npos);
  EXPECT_EQ(result.records.at(3).status, ClipStatus::kOk);
}

TEST(CaptionEngine, FitLowersSettingsUntilTheClipFitsAndRecordsThem) {
  FakeBehaviour behaviour;
  behaviour.cost_multiplier["clip1.mp4"] = 3;    // fits at fps 1
  behaviour.cost_multiplier["clip2.mp4"] = 1e6;  // never fits
  FakeCaptioner captioner(behaviour);
  EngineConfig config = config_with(1);
  config.fit = true;
  config.budget_bytes = testing::fake_cost_bytes(config.settings, 1.0);
  EngineRun result = run(config, captioner, make_jobs(3));
  ASSERT_TRUE(result.status.ok());
  const JournalRecord& fitted = result.records.at(1);
  EXPECT_EQ(fitted.status, ClipStatus::kFitted);
  EXPECT_EQ(fitted.text, testing::fake_caption("clip1.mp4", {1.0, 448 * 672, 0, 0}));
  EXPECT_NE(fitted.error.find("fps 1 (asked 4)"), std::string::npos) << fitted.error;
  EXPECT_EQ(result.records.at(2).status, ClipStatus::kTooLarge);
  EXPECT_NE(result.records.at(2).error.find("smallest --fit"), std::string::npos);
  EXPECT_EQ(result.records.at(0).status, ClipStatus::kOk);
}

// A wide clip whose frames get too narrow below some area: --fit keeps the smallest area its
// shape takes and goes on lowering the fps there, instead of ending on bad_aspect_ratio.
TEST(CaptionEngine, FitLowersTheFpsOnceTheFramesCannotGetSmaller) {
  FakeBehaviour behaviour;
  behaviour.cost_multiplier["clip0.mp4"] = 8;  // fits at fps 0.5 at the requested area
  behaviour.smallest_area["clip0.mp4"] = 250000;
  FakeCaptioner captioner(behaviour);
  EngineConfig config = config_with(1);
  config.fit = true;
  config.budget_bytes = testing::fake_cost_bytes(config.settings, 1.0);
  EngineRun result = run(config, captioner, make_jobs(1));
  ASSERT_TRUE(result.status.ok());
  const JournalRecord& fitted = result.records.at(0);
  EXPECT_EQ(fitted.status, ClipStatus::kFitted) << fitted.error;
  EXPECT_EQ(fitted.text, testing::fake_caption("clip0.mp4", {0.5, 448 * 672, 0, 0}));
}

TEST(CaptionEngine, BatchStaysWithinTheMemoryBudget) {
  FakeCaptioner captioner({});
  EngineConfig config = config_with(8, 3);
  const uint64_t clip_bytes = testing::fake_cost_bytes(config.settings, 1.0);
  config.budget_bytes = 3 * clip_bytes;  // room for 3 clips although bs is 8
  EngineRun result = run(config, captioner, make_jobs(30));
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(result.records.size(), 30u);
  EXPECT_EQ(captioner.max_batch(), 3u);
  EXPECT_LE(captioner.max_batch_bytes(), config.budget_bytes);
}

// The model is slowed down so that, left to --prefetch alone, decoding runs far ahead of it.
EngineConfig slow_model_config(FakeBehaviour& behaviour, uint64_t prefetch_bytes) {
  behaviour.on_step = [](uint64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };
  EngineConfig config = config_with(2, 4);
  config.prefetch = 30;
  config.prefetch_bytes = prefetch_bytes;
  return config;
}

TEST(CaptionEngine, ClipsDecodedAheadStayWithinTheirHostMemory) {
  FakeBehaviour behaviour;
  const uint64_t clip_bytes = testing::fake_cost_bytes(config_with(1).settings, 1.0);
  const EngineConfig unbounded = slow_model_config(behaviour, UINT64_MAX);
  const EngineConfig bounded = slow_model_config(behaviour, 3 * clip_bytes);
  FakeCaptioner ahead(behaviour);
  FakeCaptioner within(behaviour);
  EngineRun free_run = run(unbounded, ahead, make_jobs(40));
  EngineRun result = run(bounded, within, make_jobs(40));
  ASSERT_TRUE(free_run.status.ok());
  ASSERT_TRUE(result.status.ok());
  ASSERT_EQ(result.records.size(), 40u);
  for (const auto& [row, record] : free_run.records) {
    EXPECT_EQ(result.records.at(row).status, record.status);
    EXPECT_EQ(result.records.at(row).text, record.text);
  }
  EXPECT_GT(ahead.max_held_bytes(), bounded.prefetch_bytes);  // the bound is what held it back
  EXPECT_LE(within.max_held_bytes(), bounded.prefetch_bytes);
  EXPECT_GE(within.max_held_bytes(), 2 * clip_bytes);  // but clips were still decoded ahead
  EXPECT_EQ(within.held_bytes(), 0u);
}

TEST(CaptionEngine, AClipOverTheHostBoundIsDecodedAloneAndCaptioned) {
  FakeBehaviour behaviour;
  behaviour.cost_multiplier["clip7.mp4"] = 10;
  const ClipSettings settings = config_with(1).settings;
  const EngineConfig config =
      slow_model_config(behaviour, 3 * testing::fake_cost_bytes(settings, 1.0));
  FakeCaptioner captioner(behaviour);
  EngineRun result = run(config, captioner, make_jobs(20));
  ASSERT_TRUE(result.status.ok());
  ASSERT_EQ(result.records.size(), 20u);
  for (const auto& [row, record] : result.records) EXPECT_EQ(record.status, ClipStatus::kOk);
  EXPECT_EQ(captioner.max_held_bytes(), testing::fake_cost_bytes(settings, 10.0));
}

TEST(CaptionEngine, SinkFailureStopsTheRunWithThatError) {
  FakeCaptioner captioner({});
  const std::vector<ClipJob> jobs = make_jobs(100);
  size_t next = 0;
  JobSource source = [&]() -> Result<std::optional<ClipJob>> {
    if (next == jobs.size()) return std::optional<ClipJob>();
    return std::optional<ClipJob>(jobs[next++]);
  };
  int written = 0;
  RecordSink sink = [&](const JournalRecord&) {
    if (++written == 5) return Status::io_error("disk full");
    return Status();
  };
  Result<EngineReport> report = run_engine(config_with(2), captioner, source, sink, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().message(), "disk full");
}

// Stopped on a fatal error with decoded clips still waiting: their host memory reservations end
// cleanly (MemoryGate checks that none outlives it).
TEST(CaptionEngine, AStopWithClipsWaitingEndsTheirReservations) {
  FakeBehaviour behaviour;
  EngineConfig config = slow_model_config(behaviour, UINT64_MAX);
  behaviour.on_step = [](uint64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  FakeCaptioner captioner(behaviour);
  const std::vector<ClipJob> jobs = make_jobs(40);
  size_t next = 0;
  JobSource source = [&]() -> Result<std::optional<ClipJob>> {
    if (next == jobs.size()) return std::optional<ClipJob>();
    return std::optional<ClipJob>(jobs[next++]);
  };
  RecordSink sink = [&](const JournalRecord&) {
    // Fails once the decode threads have clips waiting (a fixed sleep was not always enough
    // on a loaded machine).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (captioner.held_bytes() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Status::io_error("disk full");
  };
  Result<EngineReport> report = run_engine(config, captioner, source, sink, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().message(), "disk full");
  EXPECT_GT(captioner.held_bytes(), 0u);  // clips were waiting when it stopped
}

TEST(CaptionEngine, SourceErrorIsReturnedAfterTheRowsBeforeItAreDone) {
  FakeCaptioner captioner({});
  int next = 0;
  JobSource source = [&]() -> Result<std::optional<ClipJob>> {
    if (next == 3) return Status::corruption("meta.csv: line 5: unterminated quote");
    ++next;
    return std::optional<ClipJob>(ClipJob{static_cast<uint64_t>(next), "a.mp4", "a.mp4"});
  };
  int written = 0;
  RecordSink sink = [&](const JournalRecord&) {
    ++written;
    return Status();
  };
  Result<EngineReport> report = run_engine(config_with(1), captioner, source, sink, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(written, 3);
}

TEST(CaptionEngine, EmptySourceFinishesAtOnce) {
  FakeCaptioner captioner({});
  EngineRun result = run(config_with(4), captioner, {});
  EXPECT_TRUE(result.status.ok());
  EXPECT_TRUE(result.records.empty());
}

}  // namespace
}  // namespace vcap::pipeline
