/* Peak probes for the AVX-512 VNNI variant: 12 independent zmm chains per iteration
 * (latency 5 x 2 ports needs >= 10 to keep both busy) of the instruction each GEMM is built
 * on: vpdpbusd (int8: 16 lanes x 4 = 64 u8 x s8 multiply-accumulates) and vpdpwssd (16x8:
 * 16 lanes x 2 = 32 int16 multiply-accumulates). Inline asm so the compiler cannot fold or
 * reorder the work away. */
#include "bench/peak.h"

#include <immintrin.h>

#define CHAINS(op)                                                                       \
  __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, \
          a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;                                  \
  const __m512i x = _mm512_set1_epi32(0x01020304), y = _mm512_set1_epi32(0x05060708);     \
  for (uint64_t i = 0; i < iters; i++) {                                                  \
    __asm__ volatile(                                                                     \
        op " %[y], %[x], %[a0]\n\t" op " %[y], %[x], %[a1]\n\t"                           \
        op " %[y], %[x], %[a2]\n\t" op " %[y], %[x], %[a3]\n\t"                           \
        op " %[y], %[x], %[a4]\n\t" op " %[y], %[x], %[a5]\n\t"                           \
        op " %[y], %[x], %[a6]\n\t" op " %[y], %[x], %[a7]\n\t"                           \
        op " %[y], %[x], %[a8]\n\t" op " %[y], %[x], %[a9]\n\t"                           \
        op " %[y], %[x], %[a10]\n\t" op " %[y], %[x], %[a11]"                             \
        : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4),      \
          [a5] "+v"(a5), [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9),      \
          [a10] "+v"(a10), [a11] "+v"(a11)                                                \
        : [x] "v"(x), [y] "v"(y));                                                        \
  }

uint64_t qe_peak_macs__avx512vnni(uint64_t iters) {
  CHAINS("vpdpbusd")
  return iters * 12 * 64;
}

uint64_t qe_peak_macs16__avx512vnni(uint64_t iters) {
  CHAINS("vpdpwssd")
  return iters * 12 * 32;
}
