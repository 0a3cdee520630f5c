// The two renderings of a BenchReport (pipeline/benchmark.h): JSON for scripts and checks,
// Markdown for people and bench/results.
#include <cstdio>
#include <string>

#include "pipeline/benchmark.h"

namespace vcap::pipeline {
namespace {

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char text[256];
  std::snprintf(text, sizeof(text), pattern, a, b, c);
  return text;
}

// A figure that needs a yardstick (bare GEMM rate, bandwidth), or "n/a" where --no-yardsticks
// left it unmeasured (0).
std::string measured(const char* pattern, double value) {
  return value > 0 ? format(pattern, value) : "n/a";
}

}  // namespace

nlohmann::json bench_report_json(const BenchReport& r) {
  nlohmann::json raw = nlohmann::json::array();
  for (const RawGemm& g : r.raw_gemms)
    raw.push_back({{"name", g.name},
                   {"m", g.m},
                   {"k", g.k},
                   {"n", g.n},
                   {"tflops", g.tflops},
                   {"implementation", g.implementation}});
  return {
      {"machine", r.machine},
      {"device", r.device},
      {"threads", r.threads},
      {"precision", r.precision},
      {"model", r.model_dir.string()},
      {"video", r.video.string()},
      {"clips", r.clips},
      {"bs", r.bs},
      {"frames_per_clip", r.frames},
      {"visual_tokens_per_clip", r.visual_tokens},
      {"prompt_tokens_per_clip", r.prompt_tokens},
      {"new_tokens_per_clip", r.new_tokens},
      {"seconds",
       {{"load", r.load_s},
        {"decode", r.decode_s},
        {"preprocess", r.preprocess_s},
        {"vision", r.vision_s},
        {"prefill", r.prefill_s},
        {"generation", r.generation_s},
        {"model", r.model_s()},
        {"total", r.total_s}}},
      {"total_over_model", ratio(r.total_s, r.model_s())},
      {"floor_seconds", r.floor_s},
      {"total_over_floor", ratio(r.total_s, r.floor_s)},
      {"vision_tflops", r.vision_tflops},
      {"prefill_tflops", r.prefill_tflops},
      {"raw_vision_tflops", r.raw_vision_tflops},
      {"raw_prefill_tflops", r.raw_prefill_tflops},
      {"raw_gemm_tflops", r.raw_gemm_tflops},
      {"vision_share_of_raw", ratio(r.vision_tflops, r.raw_vision_tflops)},
      {"prefill_share_of_raw", ratio(r.prefill_tflops, r.raw_prefill_tflops)},
      {"decode_steps", r.decode_steps},
      {"decode_ms_per_token", r.decode_ms_per_token},
      {"select_ms_per_step", r.select_ms_per_step},
      {"tokens_chosen_on_host", r.tokens_chosen_on_host},
      {"decode_tokens_per_s", r.decode_tokens_per_s},
      {"batched_ms_per_step", r.batched_ms_per_step},
      {"batched_sequences_per_step", r.batched_sequences_per_step},
      {"single_ms_per_step", r.single_ms_per_step},
      {"batched_over_single_tokens_per_s", r.batched_over_single_tokens_per_s},
      {"decode_bytes_per_step", r.decode_bytes_per_step},
      {"decode_floor_ms_per_token", r.decode_floor_ms_per_token},
      {"decode_over_floor", ratio(r.decode_ms_per_token, r.decode_floor_ms_per_token)},
      {"decode_read_floor_ms_per_token", r.decode_read_floor_ms_per_token},
      {"decode_over_read_floor", ratio(r.decode_ms_per_token, r.decode_read_floor_ms_per_token)},
      {"bandwidth_gbs", r.bandwidth_gbs},
      {"read_bandwidth_gbs", r.read_bandwidth_gbs},
      {"raw_gemms", raw},
      {"weight_bytes", r.weight_bytes},
      {"peak_rss_bytes", r.peak_rss_bytes},
      {"peak_rss_over_weights",
       ratio(static_cast<double>(r.peak_rss_bytes), static_cast<double>(r.weight_bytes))},
  };
}

std::string bench_report_markdown(const BenchReport& r) {
  std::string out = "Machine: " + r.machine + "; device " + r.device + ", " +
                    std::to_string(r.threads) + " threads, " + r.precision + ".\n";
  out += "Model: " + r.model_dir.string() + ". Video: " + r.video.string() + ".\n";
  out += std::to_string(r.clips) + " clip(s), batch " + std::to_string(r.bs) + ": " +
         std::to_string(r.frames) + " frames, " + std::to_string(r.visual_tokens) +
         " visual tokens, " + std::to_string(r.prompt_tokens) + " prompt tokens, " +
         std::to_string(r.new_tokens) + " new tokens per clip.\n\n";
  out += "| stage | seconds | GEMM TFLOP/s | bare oneDNN TFLOP/s, same shapes | share |\n";
  out += "|---|---|---|---|---|\n";
  out += format("| load | %.2f | | | |\n", r.load_s);
  out += format("| decode (CPU threads) | %.2f | | | |\n", r.decode_s);
  out += format("| preprocess | %.2f | | | |\n", r.preprocess_s);
  out += format("| vision | %.2f | %.3f | ", r.vision_s, r.vision_tflops) +
         measured("%.3f", r.raw_vision_tflops) + " | " +
         measured("%.0f%%", 100 * ratio(r.vision_tflops, r.raw_vision_tflops)) + " |\n";
  out += format("| prefill | %.2f | %.3f | ", r.prefill_s, r.prefill_tflops) +
         measured("%.3f", r.raw_prefill_tflops) + " | " +
         measured("%.0f%%", 100 * ratio(r.prefill_tflops, r.raw_prefill_tflops)) + " |\n";
  out += format("| generation | %.2f | | | |\n", r.generation_s);
  out += format("| model (vision+prefill+generation) | %.2f | | | |\n", r.model_s());
  out += format("| total wall | %.2f | | | %.2fx the model time |\n", r.total_s,
                ratio(r.total_s, r.model_s()));
  out += "| floor (GEMM FLOPs at the bare rate + decode bytes at the read bandwidth) | " +
         measured("%.2f", r.floor_s) + " | | | total " +
         measured("%.2fx", ratio(r.total_s, r.floor_s)) + " the floor |\n";
  out += format("\nDecode: %.1f ms per step (%.0f steps; %.2f ms of it choosing the tokens, ",
                r.decode_ms_per_token, static_cast<double>(r.decode_steps), r.select_ms_per_step);
  out +=
      format("%.0f of %.0f tokens chosen from the whole row on the host), ",
             static_cast<double>(r.tokens_chosen_on_host), static_cast<double>(r.generated_tokens));
  out += format("%.2f tokens/s over all clips; ", r.decode_tokens_per_s);
  out += "floor " + measured("%.1f ms", r.decode_floor_ms_per_token) +
         format(" (%.2f GB per step at ", r.decode_bytes_per_step / 1e9) +
         measured("%.1f GB/s", r.bandwidth_gbs) + " copy bandwidth): " +
         measured("%.2fx", ratio(r.decode_ms_per_token, r.decode_floor_ms_per_token)) +
         " the floor; read-only floor " + measured("%.1f ms", r.decode_read_floor_ms_per_token) +
         " at " + measured("%.1f GB/s", r.read_bandwidth_gbs) + ": " +
         measured("%.2fx", ratio(r.decode_ms_per_token, r.decode_read_floor_ms_per_token)) + ".\n";
  if (r.batched_over_single_tokens_per_s > 0) {
    out += format(
        "Same run, batching: %.1f ms per step of %.1f sequences (mean) against %.1f ms per step "
        "of one (a clip decoding alone): ",
        r.batched_ms_per_step, r.batched_sequences_per_step, r.single_ms_per_step);
    out += format("%.2fx the tokens/s of bs 1.\n", r.batched_over_single_tokens_per_s);
  }
  out += format("Peak RSS %.2f GiB; weights %.2f GiB (%.2fx).\n",
                static_cast<double>(r.peak_rss_bytes) / 1073741824.0,
                static_cast<double>(r.weight_bytes) / 1073741824.0,
                ratio(static_cast<double>(r.peak_rss_bytes), static_cast<double>(r.weight_bytes)));
  if (!r.raw_gemms.empty()) {
    out += "\n| bare GEMM | m x k x n | TFLOP/s | oneDNN kernel |\n|---|---|---|---|\n";
    for (const RawGemm& g : r.raw_gemms)
      out += "| " + g.name + " | " + std::to_string(g.m) + " x " + std::to_string(g.k) + " x " +
             std::to_string(g.n) + format(" | %.3f | ", g.tflops) + g.implementation + " |\n";
  }
  return out;
}

}  // namespace vcap::pipeline
