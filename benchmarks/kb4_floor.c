/* C timing of the 1x4 (kb4) kernel against the dense GEMM on one layer, without Python in
 * the loop, and its output-stage floor: docs/SPARSE.md "Where the time goes".
 *   gcc -std=c11 -O3 -pthread -Icsrc/include -Icsrc -DQE_HAVE_AVX2=1 -DQE_HAVE_AVX512VNNI=1
 *       benchmarks/kb4_floor.c OBJECTS -lm -o kb4_floor
 * where OBJECTS are the csrc/ objects of `python setup.py build_ext` (build/temp.STAR/csrc,
 * minus the Python module) or any build with the setup.py flags per variant file.
 *   ./kb4_floor M N K SPARSITY [THREADS [REPS [ISA]]]
 * Weights: round((1 - s) N ceil(K/4)) 1x4 blocks at random (as K.kblock_prune leaves them);
 * ONE=1 instead gives every channel exactly one block (every channel requantized); s = 1
 * leaves every channel empty (only the activation repack, transposes and stores remain).
 * Prints the 20th percentile of REPS calls (thread CPU time for 1 thread). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qengine.h"
static uint64_t st = 88172645463325252ull;
static uint32_t rnd(void) { st ^= st << 13, st ^= st >> 7, st ^= st << 17; return (uint32_t)(st >> 16); }
static double now(int th) { struct timespec t; clock_gettime(th > 1 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmpd(const void* a, const void* b) { double x = *(double*)a, y = *(double*)b; return x < y ? -1 : x > y; }
int main(int argc, char** argv) {
  size_t M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]);
  double s = atof(argv[4]); int th = argc > 5 ? atoi(argv[5]) : 1; int reps = argc > 6 ? atoi(argv[6]) : 300;
  int isa = argc > 7 ? atoi(argv[7]) : QE_ISA_AVX512VNNI;
  size_t KB = (K + 3) / 4;
  int8_t* w = calloc(N * K, 1);
  int8_t* a = malloc(M * K);
  for (size_t i = 0; i < M * K; i++) a[i] = (int8_t)(rnd() % 256 - 128);
  /* keep round((1-s) N KB) blocks chosen at random */
  size_t keep = (size_t)((1 - s) * N * KB + 0.5), nb = 0;
  char* on = calloc(N * KB, 1);
  if (getenv("ONE")) { nb = 0; for (size_t n = 0; n < N; n++) on[n * KB + rnd() % KB] = 1, nb++; }
  else while (nb < keep) { size_t b = rnd() % (N * KB); if (!on[b]) on[b] = 1, nb++; }
  for (size_t n = 0; n < N; n++) for (size_t kb = 0; kb < KB; kb++) if (on[n * KB + kb])
    for (size_t j = 0; j < 4 && 4 * kb + j < K; j++) w[n * K + 4 * kb + j] = (int8_t)(rnd() % 255 - 127);
  int32_t *bias = malloc(4 * N), *m0 = malloc(4 * N), *sh = malloc(4 * N);
  for (size_t n = 0; n < N; n++) bias[n] = (int32_t)(rnd() % (1 << 17)) - (1 << 16), m0[n] = 1500000000, sh[n] = 40;
  int32_t* ptr = calloc(N + 1, 4); int32_t* kidx = malloc(4 * nb + 4); int8_t* vals = calloc(4 * nb + 4, 1);
  size_t b = 0; size_t empty = 0;
  for (size_t n = 0; n < N; n++) {
    size_t b0 = b;
    for (size_t kb = 0; kb < KB; kb++) if (on[n * KB + kb]) {
      kidx[b] = kb; for (size_t j = 0; j < 4 && 4 * kb + j < K; j++) vals[4 * b + j] = w[n * K + 4 * kb + j]; b++; }
    ptr[n + 1] = b; empty += b == b0;
  }
  const qe_spmm_kb4_kernel* kk = qe_spmm_kb4_kernel_for(isa);
  void* pk = aligned_alloc(64, qe_spmm_kb4_packed_size(N, K, nb));
  qe_spmm_kb4_pack(N, K, ptr, kidx, 4, vals, bias, m0, sh, pk);
  void* sk = malloc(qe_spmm_kb4_scratch_size(kk, pk, M) + 64 * 16);
  const qe_gemm_kernel* gk = qe_gemm_kernel_for(isa);
  void* pd = aligned_alloc(64, (qe_gemm_packed_w_size(gk, N, K) + 63) / 64 * 64);
  qe_gemm_pack_w(gk, N, K, w, bias, m0, sh, pd);
  void* sd = malloc(qe_gemm_scratch_size(gk, M, K) + 64);
  int8_t *c1 = malloc(M * N), *c2 = malloc(M * N);
  qe_spmm_kb4_run(kk, pk, M, a, K, c1, N, 3, -128, 127, sk, th);
  qe_gemm_run(gk, M, N, K, a, K, pd, c2, N, 3, -128, 127, sd, th);
  if (memcmp(c1, c2, M * N)) { printf("MISMATCH\n"); return 1; }
  double* ts = malloc(sizeof(double) * reps), *td = malloc(sizeof(double) * reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now(th); qe_spmm_kb4_run(kk, pk, M, a, K, c1, N, 3, -128, 127, sk, th);
    double t1 = now(th); qe_gemm_run(gk, M, N, K, a, K, pd, c2, N, 3, -128, 127, sd, th);
    double t2 = now(th); ts[r] = t1 - t0, td[r] = t2 - t1;
  }
  qsort(ts, reps, sizeof(double), cmpd); qsort(td, reps, sizeof(double), cmpd);
  double a1 = ts[reps / 5] * 1e6, d1 = td[reps / 5] * 1e6;
  printf("M %5zu N %5zu K %4zu s %.2f empty %4zu/%-4zu th %d  kb4 %8.2f us  dense %8.2f us  x%.2f\n", M, N, K, s, empty, N, th, a1, d1, d1 / a1);
  return 0;
}
