#include "tensor/cpu/cpu_context.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace vcap::tensor::cpu {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

bool cpu_has_avx512_bf16() { return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16"); }

void FreeDeleter::operator()(std::byte* p) const { std::free(p); }

Result<AlignedBytes> allocate_aligned(size_t bytes, const char* what) {
  constexpr size_t kAlignment = 64;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  const double physical = pages > 0 && page_size > 0 ? double(pages) * double(page_size) : 0.0;
  const auto refuse = [&](const char* why) {
    return Status::out_of_memory(std::string("cpu: cannot allocate ") + what + " (" +
                                 std::to_string(bytes) + " bytes): " + why);
  };
  // Checked first so that an absurd request is a Status even under ASan, whose allocator would
  // otherwise abort instead of returning null.
  if (physical > 0.0 && double(bytes) > physical) return refuse("more than the physical memory");
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* memory = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (memory == nullptr) return refuse("the allocator refused");
  return AlignedBytes(static_cast<std::byte*>(memory));
}

}  // namespace vcap::tensor::cpu
