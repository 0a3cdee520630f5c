#include "tensor/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor {
namespace {

// Runs `body(begin, size)` over `chunks` equal parts of [0, bytes) on `workers` threads,
// `repeats` times; returns the best seconds of one round.
template <typename Body>
double best_round_seconds(int workers, size_t bytes, int repeats, Body body) {
  const auto chunks = static_cast<int64_t>(workers);
  const size_t chunk = ((bytes + workers - 1) / workers + 63) / 64 * 64;  // whole cache lines
  double best_seconds = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const size_t begin = std::min(bytes, c * chunk);
      body(begin, std::min(bytes, begin + chunk) - begin);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r == 0 || seconds < best_seconds) best_seconds = seconds;
  }
  return best_seconds;
}

}  // namespace

double measure_memory_bandwidth_gbs(int threads, size_t buffer_bytes, int repeats) {
  const int workers = threads > 0 ? threads : cpu::available_cores();
  auto source = cpu::allocate_aligned(buffer_bytes, "bandwidth source");
  auto target = cpu::allocate_aligned(buffer_bytes, "bandwidth target");
  if (!source.ok() || !target.ok() || buffer_bytes == 0) return 0.0;
  std::byte* src = source->get();
  std::byte* dst = target->get();
  // First touch from the same threads, so pages are mapped before timing.
  best_round_seconds(workers, buffer_bytes, 1, [&](size_t begin, size_t size) {
    std::memset(src + begin, 1, size);
    std::memset(dst + begin, 0, size);
  });
  const double seconds = best_round_seconds(
      workers, buffer_bytes, repeats,
      [&](size_t begin, size_t size) { std::memcpy(dst + begin, src + begin, size); });
  return seconds > 0.0 ? 2.0 * static_cast<double>(buffer_bytes) / seconds / 1e9 : 0.0;
}

double measure_read_bandwidth_gbs(int threads, size_t buffer_bytes, int repeats) {
  const int workers = threads > 0 ? threads : cpu::available_cores();
  buffer_bytes = buffer_bytes / 64 * 64;
  auto source = cpu::allocate_aligned(buffer_bytes, "bandwidth source");
  if (!source.ok() || buffer_bytes == 0) return 0.0;
  std::byte* src = source->get();
  best_round_seconds(workers, buffer_bytes, 1,
                     [&](size_t begin, size_t size) { std::memset(src + begin, 1, size); });
  uint64_t sink = 0;
  const double seconds =
      best_round_seconds(workers, buffer_bytes, repeats, [&](size_t begin, size_t size) {
        // Eight independent sums so the loop is bound by loads, not by one add chain.
        uint64_t sums[8] = {};
        const auto* words = reinterpret_cast<const uint64_t*>(src + begin);
        const size_t count = size / sizeof(uint64_t) / 8 * 8;
        for (size_t i = 0; i < count; i += 8)
          for (int j = 0; j < 8; ++j) sums[j] += words[i + j];
        uint64_t total = 0;
        for (uint64_t s : sums) total += s;
#pragma omp atomic
        sink += total;
      });
  // The sum is checked so the compiler cannot drop the reads.
  if (sink != static_cast<uint64_t>(repeats) * (buffer_bytes / 8) * 0x0101010101010101ULL)
    return 0.0;
  return seconds > 0.0 ? static_cast<double>(buffer_bytes) / seconds / 1e9 : 0.0;
}

}  // namespace vcap::tensor
