// `vcap bench` on the pico-b test model: the report's arithmetic is checked against the run
// (token counts, FLOP counts, floors), not its speed.
#include "pipeline/benchmark.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "pipeline/test_dir.h"
#include "pipeline/test_model_dir.h"

namespace vcap::pipeline {
namespace {

namespace fs = std::filesystem;
const fs::path kData = VCAP_TEST_DATA_DIR;

class Benchmark : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::make_test_model_dir("pico-b", dir_.path() / "model").ok());
    options_.caption.model = (dir_.path() / "model").string();
    options_.caption.max_new_tokens = 3;
    options_.caption.threads = 1;
    options_.caption.fps = 2;
    options_.work_dir = dir_.path() / "work";
  }

  testing::TestDir dir_;
  BenchOptions options_;
};

TEST_F(Benchmark, BatchOfCopiesReportsEveryStageAndTheYardsticks) {
  options_.video = kData / "media" / "short_0.2s.mp4";
  options_.caption.bs = 2;
  options_.clips = 3;
  std::FILE* log = std::tmpfile();
  Result<BenchReport> report = run_benchmark(options_, log);
  std::fclose(log);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->clips, 3);
  EXPECT_EQ(report->bs, 2);
  EXPECT_EQ(report->new_tokens, 3);  // eos ignored: always max_new_tokens
  EXPECT_GT(report->frames, 0);
  EXPECT_GT(report->visual_tokens, 0);
  EXPECT_GT(report->decode_s, 0);
  EXPECT_GT(report->vision_s, 0);
  EXPECT_GT(report->prefill_s, 0);
  EXPECT_GT(report->generation_s, 0);
  EXPECT_GE(report->total_s, report->model_s());
  // 2 decode steps per clip (the first token comes from prefill); two clips share steps.
  EXPECT_GE(report->decode_steps, 4);
  EXPECT_LE(report->decode_steps, 6);
  EXPECT_NEAR(report->decode_tokens_per_s * report->generation_s, 6.0, 1e-6);
  EXPECT_GT(report->select_ms_per_step, 0);
  EXPECT_LT(report->select_ms_per_step, report->decode_ms_per_token);
  EXPECT_EQ(report->generated_tokens, 9);
  EXPECT_LE(report->tokens_chosen_on_host, report->generated_tokens);
  // The third clip decodes alone after the first two: batching measured against bs 1 in this run.
  EXPECT_GT(report->batched_ms_per_step, 0);
  EXPECT_GT(report->single_ms_per_step, 0);
  EXPECT_GE(report->single_decode_steps, 2);  // the third clip's two steps at least
  EXPECT_GT(report->batched_sequences_per_step, 1.0);
  EXPECT_LE(report->batched_sequences_per_step, 2.0);
  EXPECT_NEAR(
      report->batched_over_single_tokens_per_s,
      report->batched_sequences_per_step * report->single_ms_per_step / report->batched_ms_per_step,
      1e-9);
  EXPECT_EQ(report->raw_gemms.size(), 8u);  // 4 vision + 4 decoder GEMM shapes
  EXPECT_GT(report->raw_gemm_tflops, 0);
  EXPECT_GT(report->bandwidth_gbs, 0);
  EXPECT_GT(report->read_bandwidth_gbs, 0);
  EXPECT_NEAR(report->decode_read_floor_ms_per_token,
              report->decode_bytes_per_step / (report->read_bandwidth_gbs * 1e6), 1e-9);
  EXPECT_NEAR(report->decode_floor_ms_per_token,
              report->decode_bytes_per_step / (report->bandwidth_gbs * 1e6), 1e-9);
  EXPECT_NEAR(
      report->floor_s,
      (report->vision_gemm_flops + report->prefill_gemm_flops) / (report->raw_gemm_tflops * 1e12) +
          report->decode_steps * report->decode_bytes_per_step / (report->read_bandwidth_gbs * 1e9),
      1e-9);
  EXPECT_GT(report->peak_rss_bytes, report->weight_bytes);

  const nlohmann::json json = bench_report_json(*report);
  for (const char* key : {"vision_tflops", "prefill_tflops", "raw_gemm_tflops",
                          "decode_ms_per_token", "decode_floor_ms_per_token", "peak_rss_bytes"})
    EXPECT_TRUE(json.contains(key)) << key;
  for (const char* stage : {"decode", "preprocess", "vision", "prefill", "generation", "total"})
    EXPECT_TRUE(json["seconds"].contains(stage)) << stage;
  EXPECT_NE(bench_report_markdown(*report).find("| prefill |"), std::string::npos);
  EXPECT_NE(bench_report_markdown(*report).find("the tokens/s of bs 1"), std::string::npos);
}

TEST_F(Benchmark, GeneratesItsClipOnceAndReusesIt) {
  options_.caption.bs = 1;
  options_.clip_seconds = 0.5;
  options_.yardsticks = false;
  std::FILE* log = std::tmpfile();
  Result<BenchReport> first = run_benchmark(options_, log);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->video.filename(), "clip_0.5s_1280x720_30fps.mp4");
  EXPECT_EQ(first->frames, 4);  // 15 frames at fps 2: one, raised to the 4-frame minimum
  const auto written = fs::last_write_time(first->video);
  Result<BenchReport> second = run_benchmark(options_, log);
  std::fclose(log);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(fs::last_write_time(second->video), written);
  EXPECT_EQ(second->raw_gemm_tflops, 0);                   // yardsticks off
  EXPECT_EQ(second->batched_over_single_tokens_per_s, 0);  // bs 1: nothing to compare
  // Unmeasured yardsticks read "n/a", not a 0% share or a 0x floor.
  const std::string markdown = bench_report_markdown(*second);
  EXPECT_NE(markdown.find("| prefill |"), std::string::npos);
  EXPECT_NE(markdown.find("n/a | n/a |"), std::string::npos) << markdown;
  EXPECT_EQ(markdown.find("0%"), std::string::npos) << markdown;
  EXPECT_EQ(markdown.find("0.00x the floor"), std::string::npos) << markdown;
}

TEST_F(Benchmark, AFailingClipIsAnErrorNamingIt) {
  options_.video = dir_.path() / "not_a_video.mp4";
  testing::write_text(options_.video, "not a video");
  std::FILE* log = std::tmpfile();
  Result<BenchReport> report = run_benchmark(options_, log);
  std::fclose(log);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("not_a_video.mp4"), std::string::npos);
}

TEST(BenchCli, PrintsOneJsonObject) {
  testing::TestDir dir;
  ASSERT_TRUE(testing::make_test_model_dir("pico", dir.path() / "m").ok());
  const std::string command =
      std::string(VCAP_BINARY) + " bench --model " + (dir.path() / "m").string() + " --video " +
      (kData / "media" / "short_0.2s.mp4").string() +
      " --max-new-tokens 2 --bs 1 --threads 1 --no-yardsticks --json --json-file " +
      (dir.path() / "report.json").string() + " 2>/dev/null";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out);
  EXPECT_EQ(json["new_tokens_per_clip"], 2);
  EXPECT_EQ(json["clips"], 1);
  EXPECT_GT(json["seconds"]["total"].get<double>(), 0);
  EXPECT_EQ(nlohmann::json::parse(testing::read_text(dir.path() / "report.json")), json);
}

}  // namespace
}  // namespace vcap::pipeline
