// Tokenizer speed: loading the 7 MB Qwen2 tokenizer.json, encoding and decoding ~10k tokens of
// mixed text, and one long single-piece run (checks the merge loop is not quadratic).
// Run from a Release build: build/release/tokenizer_bench. The tokenizer.json path defaults to
// tests/data/qwen2vl/tokenizer.json of this source tree; VCAP_TOKENIZER_JSON overrides it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace {

using vcap::text::Tokenizer;

std::filesystem::path tokenizer_path() {
  if (const char* env = std::getenv("VCAP_TOKENIZER_JSON")) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "data" /
         "qwen2vl" / "tokenizer.json";
}

const Tokenizer& tokenizer() {
  static const Tokenizer loaded = Tokenizer::load(tokenizer_path()).value();
  return loaded;
}

// Caption-like English with numbers, punctuation, code, accents and CJK, repeated until it
// encodes to at least `min_tokens` tokens.
std::string mixed_text(std::size_t min_tokens) {
  const std::string paragraph =
      "The video shows a man   walking his dog along a beach at sunset; waves roll in.\n\n"
      "At 00:12 a cyclist (wearing a red helmet) passes by, then the camera pans left. "
      "Il fait beau à Paris, l'été est chaud. 猫が窓の外を見ている。 Ünïcödé naïve café!\n"
      "for (int i = 0; i < 10; ++i) { total += values[i] * 2.5; }  // accumulate\n"
      "It's 2024: the <|im_start|> token and emoji 🎉🚀 appear here\ttoo.\r\n";
  std::string text;
  while (tokenizer().encode(text).size() < min_tokens) text += paragraph;
  return text;
}

void BM_LoadTokenizerJson(benchmark::State& state) {
  for (auto _ : state) {
    auto loaded = Tokenizer::load(tokenizer_path());
    if (!loaded.ok()) state.SkipWithError(loaded.status().to_string().c_str());
    benchmark::DoNotOptimize(loaded);
  }
}
BENCHMARK(BM_LoadTokenizerJson)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_Encode10kTokens(benchmark::State& state) {
  const std::string text = mixed_text(10000);
  std::size_t tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tokenizer().encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Encode10kTokens)->Unit(benchmark::kMillisecond);

void BM_Decode10kTokens(benchmark::State& state) {
  const std::vector<int32_t> ids = tokenizer().encode(mixed_text(10000));
  for (auto _ : state) {
    std::string text = tokenizer().decode(ids, true);
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_Decode10kTokens)->Unit(benchmark::kMillisecond);

// One pre-tokenizer piece of 100k bytes ("=" * 100000): BPE on a single long symbol run.
void BM_EncodeLongPiece(benchmark::State& state) {
  const std::string text(100000, '=');
  for (auto _ : state) {
    const std::vector<int32_t> ids = tokenizer().encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
}
BENCHMARK(BM_EncodeLongPiece)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
