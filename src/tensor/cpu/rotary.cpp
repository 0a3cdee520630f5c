#include "tensor/cpu/rotary.h"

namespace vcap::tensor::cpu {

// A plain loop: it is memory-bound and O(rows * cols), and the compiler vectorises it.
void rotary(const CpuContext& context, TensorView x, TensorView cos, TensorView sin, int num_heads,
            int head_dim) {
  const int half = head_dim / 2;
#pragma omp parallel for num_threads(context.threads) schedule(static) if (x.rows > 16)
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* c = cos.row<float>(r);
    const float* s = sin.row<float>(r);
    for (int h = 0; h < num_heads; ++h) {
      float* first = x.row<float>(r) + static_cast<int64_t>(h) * head_dim;
      float* second = first + half;
      for (int d = 0; d < half; ++d) {
        const float a = first[d];
        const float b = second[d];
        first[d] = a * c[d] - b * s[d];
        second[d] = b * c[d] + a * s[d];
      }
    }
  }
}

}  // namespace vcap::tensor::cpu
