/* Guest instructions of one 1x4 (kb4) call on ARM, against the dense GEMM on the same
 * weights, counted under qemu user mode by benchmarks/kb4_arm_count.sh (qemu does not time
 * ARM cores faithfully; an instruction count is what it can measure: docs/SPARSE.md, "NEON").
 *   kb4_arm_count M N K DENSITY% REPS MODE     MODE 0: kb4 NHWC, 1: kb4 channel-major,
 *                                              2: the dense GEMM (the weights made dense),
 *                                              3: kb4 blocked (input read in place)
 * Weights: each (channel, k-block) is a nonzero 1x4 block with probability DENSITY%. */
#include <stdio.h>
#include <stdlib.h>
#include "qengine.h"

static unsigned long long state = 88172645463325252ull;
static unsigned rnd(void) {
  state ^= state << 13, state ^= state >> 7, state ^= state << 17;
  return (unsigned)(state >> 16);
}

int main(int argc, char** argv) {
  if (argc != 7) return fprintf(stderr, "usage: %s M N K DENSITY%% REPS MODE\n", argv[0]), 2;
  const size_t M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), KB = (K + 3) / 4;
  const int density = atoi(argv[4]), reps = atoi(argv[5]), mode = atoi(argv[6]);
  int32_t* ptr = calloc(N + 1, 4);
  int32_t* idx = malloc(4 * N * KB + 4);
  int8_t* vals = malloc(4 * N * KB + 4);
  int8_t* w = calloc(N * K, 1);
  size_t nb = 0;
  for (size_t n = 0; n < N; n++) {
    for (size_t kb = 0; kb < KB; kb++) {
      if ((int)(rnd() % 100) >= density) continue;
      idx[nb] = (int32_t)kb;
      for (size_t j = 0; j < 4; j++) {
        vals[4 * nb + j] = (int8_t)(rnd() % 255 - 127);
        if (4 * kb + j < K) w[n * K + 4 * kb + j] = vals[4 * nb + j];
      }
      nb++;
    }
    ptr[n + 1] = (int32_t)nb;
  }
  int32_t *bias = malloc(4 * N), *m0 = malloc(4 * N), *sh = malloc(4 * N);
  for (size_t n = 0; n < N; n++) bias[n] = (int32_t)(rnd() % 65536) - 32768, m0[n] = 1500000000, sh[n] = 40;
  int8_t* a = malloc(M * KB * 4); /* room for the blocked layout's padded channels */
  for (size_t i = 0; i < M * KB * 4; i++) a[i] = (int8_t)rnd();
  int8_t* c = malloc(M * (N + 3) / 4 * 4);
  const char* name;
  if (mode == 2) {
    const qe_gemm_kernel* g = qe_gemm_kernel_for(qe_isa_selected());
    void* pw = malloc(qe_gemm_packed_w_size(g, N, K));
    qe_gemm_pack_w(g, N, K, w, bias, m0, sh, pw);
    void* scratch = malloc(qe_gemm_scratch_size(g, M, K) + 64);
    for (int r = 0; r < reps; r++) qe_gemm_run(g, M, N, K, a, K, pw, c, N, 0, -128, 127, scratch, 1);
    name = qe_gemm_kernel_name(g);
  } else {
    void* packed = malloc(qe_spmm_kb4_packed_size(N, K, nb));
    qe_spmm_kb4_pack(N, K, ptr, idx, 4, vals, bias, m0, sh, packed);
    const qe_spmm_kb4_kernel* kern = qe_spmm_kb4_kernel_for(qe_isa_selected());
    const size_t s1 = qe_spmm_kb4_scratch_size(kern, packed, M);
    const size_t s3 = qe_spmm_kb4_scratch_size_c4(kern, packed, M, 1);
    void* scratch = malloc(s1 > s3 ? s1 : s3);
    for (int r = 0; r < reps; r++) {
      if (mode == 3) /* blocked [KB, M, 4] in, [NB, M, 4] out */
        qe_spmm_kb4_run_c4(kern, packed, M, a, 4 * M, c, 4 * M, 0, -128, 127, scratch, 1);
      else if (mode == 1) /* A^T [K, M] in, C^T [N, M] out (the same bytes reinterpreted) */
        qe_spmm_kb4_run_cm(kern, packed, M, a, M, c, M, 0, -128, 127, scratch, 1);
      else
        qe_spmm_kb4_run(kern, packed, M, a, K, c, N, 0, -128, 127, scratch, 1);
    }
    name = qe_spmm_kb4_kernel_name(kern);
  }
  printf("%s, %zu blocks\n", name, nb);
  return 0;
}
