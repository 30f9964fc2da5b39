/* Peak probes: how many int8 (or 16x8) operations per second one core can do with the
 * multiply instruction a GEMM variant is built on, measured by a tiny loop of independent
 * instructions. For benchmarks only (benchmarks/gemm_gops.py, int16_vs_int8.py): not part
 * of qengine.h. */
#ifndef QE_PEAK_H
#define QE_PEAK_H

#include <stdint.h>

/* Measured int8 GOPS (2 operations per multiply-accumulate) of the calling thread for
 * variant `isa` (qe_isa), or 0 if this build or CPU has no probe for it. Takes ~0.06 s. */
double qe_peak_int8_gops(int isa);
/* The same for the 16x8 GEMM's instruction (vpdpwssd zmm; AVX2: vpmaddwd ymm, as int8). */
double qe_peak_int16_gops(int isa);

/* The variant loops: run `iters` iterations and return the multiply-accumulates done. */
uint64_t qe_peak_macs__avx512vnni(uint64_t iters);
uint64_t qe_peak_macs__avx2(uint64_t iters);
uint64_t qe_peak_macs16__avx512vnni(uint64_t iters);

#endif
