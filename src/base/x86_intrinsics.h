// <immintrin.h> without GCC 12's false warnings: its own _mm512_undefined_* placeholders are
// reported as "maybe uninitialized" when the intrinsics are inlined (-O3, or -O1 with
// sanitizers), a warning about the header, not about the including code. clang has no
// -Wmaybe-uninitialized and would reject the pragma under -Werror. Include this instead of
// <immintrin.h> in the SIMD kernels.
#ifndef VCAP_BASE_X86_INTRINSICS_H_
#define VCAP_BASE_X86_INTRINSICS_H_

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#endif  // VCAP_BASE_X86_INTRINSICS_H_
