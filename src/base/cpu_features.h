// Instruction sets the CPU has (cpuid, through __builtin_cpu_supports), for the kernels that
// are built for more than one and pick at run time.
#ifndef VCAP_BASE_CPU_FEATURES_H_
#define VCAP_BASE_CPU_FEATURES_H_

namespace vcap {

// AVX2 with FMA: what the [[gnu::target("avx2,fma")]] kernels need.
inline bool cpu_has_avx2_fma() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace vcap

#endif  // VCAP_BASE_CPU_FEATURES_H_
