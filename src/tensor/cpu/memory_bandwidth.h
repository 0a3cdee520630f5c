// Memory-bandwidth yardsticks: the floor for memory-bound work such as a decode step, which
// must stream every weight byte once per token.
#ifndef VCAP_TENSOR_CPU_MEMORY_BANDWIDTH_H_
#define VCAP_TENSOR_CPU_MEMORY_BANDWIDTH_H_

#include <cstddef>

namespace vcap::tensor {

// Copies a `buffer_bytes` buffer (well above the last-level cache) into another with `threads`
// OpenMP threads (0 = all cores), `repeats` times, and returns the best rate in GB/s (1e9
// bytes/s) counting bytes read plus bytes written (the STREAM "copy" convention). Takes about
// repeats * buffer_bytes / bandwidth seconds. Returns 0 if the buffers cannot be allocated.
double measure_memory_bandwidth_gbs(int threads = 0, size_t buffer_bytes = size_t{256} << 20,
                                    int repeats = 5);

// The same for reading only (a sum over the buffer): what a decode step does with its
// weights. Usually above the copy rate, so it is the stricter floor.
double measure_read_bandwidth_gbs(int threads = 0, size_t buffer_bytes = size_t{256} << 20,
                                  int repeats = 5);

}  // namespace vcap::tensor

#endif  // VCAP_TENSOR_CPU_MEMORY_BANDWIDTH_H_
