/* Peak probe driver (see peak.h). ISA-neutral apart from the AVX2 loop below. */
#define _POSIX_C_SOURCE 200112L /* clock_gettime under -std=c11 */
#include "bench/peak.h"

#include <time.h>

#include "qengine.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define QE_PEAK_AVX2 1
/* AVX2: 10 independent vpmaddwd ymm per iteration (2 ports x latency 5); each does
 * 8 lanes x 2 = 16 int16 multiply-accumulates, which is what the AVX2 GEMM issues per
 * instruction after widening int8 to int16. It lives here, compiled for AVX2 through a
 * function attribute and run only after a cpuid check, rather than in a peak__avx2.c
 * variant file: such a file would define QE_HAVE_AVX2, which makes gemm.c require the
 * AVX2 GEMM kernel of another branch (see benchmarks/README.md). */
__attribute__((target("avx2"))) uint64_t qe_peak_macs__avx2(uint64_t iters) {
  __m256i d0, d1, d2, d3, d4, d5, d6, d7, d8, d9;
  const __m256i x = _mm256_set1_epi16(0x0102), y = _mm256_set1_epi16(0x0304);
  for (uint64_t i = 0; i < iters; i++) {
    __asm__ volatile(
        "vpmaddwd %[y], %[x], %[d0]\n\tvpmaddwd %[y], %[x], %[d1]\n\t"
        "vpmaddwd %[y], %[x], %[d2]\n\tvpmaddwd %[y], %[x], %[d3]\n\t"
        "vpmaddwd %[y], %[x], %[d4]\n\tvpmaddwd %[y], %[x], %[d5]\n\t"
        "vpmaddwd %[y], %[x], %[d6]\n\tvpmaddwd %[y], %[x], %[d7]\n\t"
        "vpmaddwd %[y], %[x], %[d8]\n\tvpmaddwd %[y], %[x], %[d9]"
        : [d0] "=x"(d0), [d1] "=x"(d1), [d2] "=x"(d2), [d3] "=x"(d3), [d4] "=x"(d4),
          [d5] "=x"(d5), [d6] "=x"(d6), [d7] "=x"(d7), [d8] "=x"(d8), [d9] "=x"(d9)
        : [x] "x"(x), [y] "x"(y));
  }
  return iters * 10 * 16;
}
#endif

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef uint64_t (*peak_fn)(uint64_t);

/* grow one run to ~2 ms, then keep the best of 25: on a shared machine a short run is
 * likely to fit between preemptions, and load can only make a run slower */
static double best_gops(peak_fn fn) {
  if (!fn) return 0.0;
  uint64_t iters = 1 << 10;
  while (1) {
    const double t0 = seconds();
    fn(iters);
    if (seconds() - t0 > 0.002) break;
    iters *= 2;
  }
  double best = 0.0;
  for (int r = 0; r < 25; r++) {
    const double t0 = seconds();
    const uint64_t macs = fn(iters);
    const double gops = 2.0 * (double)macs / (seconds() - t0) * 1e-9;
    if (gops > best) best = gops;
  }
  return best;
}

static peak_fn probe(int isa, int int16) {
  (void)int16;
#ifdef QE_HAVE_AVX512VNNI
  if (isa == QE_ISA_AVX512VNNI && qe_isa_supported(isa))
    return int16 ? qe_peak_macs16__avx512vnni : qe_peak_macs__avx512vnni;
#endif
#ifdef QE_PEAK_AVX2
  if (isa == QE_ISA_AVX2 && __builtin_cpu_supports("avx2")) return qe_peak_macs__avx2;
#endif
  return 0;
}

double qe_peak_int8_gops(int isa) { return best_gops(probe(isa, 0)); }

double qe_peak_int16_gops(int isa) { return best_gops(probe(isa, 1)); }
