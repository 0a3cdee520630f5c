#include "tensor/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "tensor/cpu/cpu_context.h"

namespace vcap::tensor {

double measure_memory_bandwidth_gbs(int threads, size_t buffer_bytes, int repeats) {
  const int workers = threads > 0 ? threads : cpu::available_cores();
  auto source = cpu::allocate_aligned(buffer_bytes, "bandwidth source");
  auto target = cpu::allocate_aligned(buffer_bytes, "bandwidth target");
  if (!source.ok() || !target.ok() || buffer_bytes == 0) return 0.0;
  std::byte* src = source->get();
  std::byte* dst = target->get();
  const auto chunks = static_cast<int64_t>(workers);
  const size_t chunk = (buffer_bytes + workers - 1) / workers;
  // First touch from the same threads, so pages are mapped before timing.
#pragma omp parallel for num_threads(workers) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t begin = std::min(buffer_bytes, c * chunk);
    const size_t size = std::min(buffer_bytes, begin + chunk) - begin;
    std::memset(src + begin, 1, size);
    std::memset(dst + begin, 0, size);
  }
  double best_seconds = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const size_t begin = std::min(buffer_bytes, c * chunk);
      const size_t size = std::min(buffer_bytes, begin + chunk) - begin;
      std::memcpy(dst + begin, src + begin, size);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r == 0 || seconds < best_seconds) best_seconds = seconds;
  }
  return best_seconds > 0.0 ? 2.0 * static_cast<double>(buffer_bytes) / best_seconds / 1e9 : 0.0;
}

}  // namespace vcap::tensor
