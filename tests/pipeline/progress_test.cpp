#include "pipeline/progress.h"

#include <gtest/gtest.h>

namespace vcap::pipeline {
namespace {

TEST(FormatDuration, UsesSecondsMinutesAndHours) {
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(587), "9m47s");
  EXPECT_EQ(format_duration(7380), "2h03m");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(FormatProgress, ShowsCountsRatesEtaAndFailures) {
  ProgressSnapshot snapshot{"rank 1/4", 1000, 120, 100, 3, 6000, 100.0};
  EXPECT_EQ(format_progress(snapshot, 10),
            "rank 1/4 | 120/1000 clips [#.........] 12.0% | 1.00 clips/s | 60 tok/s | ETA 14m40s "
            "| 3 failed");
  snapshot.label = "";
  EXPECT_EQ(format_progress(snapshot, 0).substr(0, 15), "120/1000 clips ");
}

TEST(FormatSummary, CountsOnlyStatusesThatOccurred) {
  ProgressSnapshot snapshot{"", 10, 10, 10, 2, 50, 5.0};
  const std::string summary = format_summary(
      snapshot, {{ClipStatus::kOk, 8}, {ClipStatus::kNoVideo, 2}, {ClipStatus::kOom, 0}}, {});
  EXPECT_EQ(summary.substr(0, summary.find('\n')),
            "done: 10 rows finished by this run in 5s (10/10 rows done, 2 without caption)");
  EXPECT_NE(summary.find("status: ok=8 no_video=2\n"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("oom"), std::string::npos);
}

TEST(ProgressReporter, PrintsPlainLinesWhenNotATerminal) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    ProgressReporter reporter(out, ProgressMode::kLines, "", 3, 1, 0, std::chrono::milliseconds(0));
    reporter.record(ClipStatus::kOk, 5);
    reporter.tick();
    reporter.record(ClipStatus::kNotFound, 0);
    reporter.tick();
    reporter.finish();
    const ProgressSnapshot snapshot = reporter.snapshot();
    EXPECT_EQ(snapshot.done, 3u);
    EXPECT_EQ(snapshot.done_this_run, 2u);
    EXPECT_EQ(snapshot.failed, 1u);
    EXPECT_EQ(snapshot.output_tokens, 5u);
  }
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  EXPECT_NE(text.find("progress: 2/3 clips"), std::string::npos) << text;
  EXPECT_NE(text.find("progress: 3/3 clips"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace vcap::pipeline
