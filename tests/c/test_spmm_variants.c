/* Cross-variant self-test of the sparse kernels from plain C, for targets where the Python
 * tests cannot run (ARM under qemu, see .ci/arm-kernels.sh). Every compiled variant
 * this CPU supports, BR = 1 and 4 and the K-blocked 1x4 format, threads 1..3, against a
 * dense evaluation of eq. 3 and eq. 5 written here in 64-bit arithmetic. Exit status 0
 * when all outputs are identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qengine.h"

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

static int8_t reference(int64_t acc, int32_t m0, int32_t sh, int32_t zo, int32_t lo, int32_t hi) {
  acc = (int32_t)(uint32_t)(uint64_t)acc; /* eq. 3: int32 wraps */
  int64_t x = ((acc * m0 + ((int64_t)1 << (sh - 1))) >> sh) + zo;
  return (int8_t)(x < lo ? lo : x > hi ? hi : x);
}

static int run_case(size_t m, size_t n, size_t k, int density_pct, int extreme) {
  int8_t* w = calloc(n * k + 1, 1);
  int8_t* a = malloc(m * k + 1);
  int32_t *bias = malloc(4 * n + 4), *m0 = malloc(4 * n + 4), *sh = malloc(4 * n + 4);
  for (size_t i = 0; i < n * k; i++)
    if ((int)(rnd() % 100) < density_pct) w[i] = extreme ? 127 : (int8_t)(rnd() % 255 - 127);
  for (size_t i = 0; i < m * k; i++) a[i] = extreme ? -128 : (int8_t)(rnd() % 256 - 128);
  for (size_t j = 0; j < n; j++) {
    bias[j] = extreme ? 2147483647 - (int32_t)j : (int32_t)(rnd() % (1 << 21)) - (1 << 20);
    m0[j] = (int32_t)((1u << 30) + rnd() % (1u << 30));
    sh[j] = extreme ? 1 + (int32_t)(rnd() % 62) : 30 + (int32_t)(rnd() % 20);
  }
  const int32_t zo = (int32_t)(rnd() % 256) - 128, qmin = -128 + (int32_t)(rnd() % 20), qmax = 127;
  int8_t* want = malloc(m * n + 1);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      int64_t acc = bias[j];
      for (size_t kk = 0; kk < k; kk++) acc += (int64_t)a[i * k + kk] * w[j * k + kk];
      want[i * n + j] = reference(acc, m0[j], sh[j], zo, qmin, qmax);
    }
  int bad = 0;
  for (int br = 1; br <= 4; br += 3) {
    const size_t rows = (n + br - 1) / br;
    int32_t* ptr = calloc(rows + 1, 4);
    int32_t* idx = malloc(4 * rows * k + 4);
    int8_t* vals = calloc(rows * k * br + 1, 1);
    size_t nb = 0;
    for (size_t r = 0; r < rows; r++) {
      for (size_t kk = 0; kk < k; kk++) {
        int any = 0;
        for (int j = 0; j < br; j++)
          if (r * br + j < n && w[(r * br + j) * k + kk]) any = 1;
        if (!any) continue;
        idx[nb] = (int32_t)kk;
        for (int j = 0; j < br; j++)
          vals[nb * br + j] = r * br + j < n ? w[(r * br + j) * k + kk] : 0;
        nb++;
      }
      ptr[r + 1] = (int32_t)nb;
    }
    void* packed = malloc(qe_spmm_packed_size(n, k, br, nb));
    qe_spmm_pack(n, k, br, ptr, idx, 4, vals, bias, m0, sh, packed);
    void* scratch = malloc(qe_spmm_scratch_size(packed, m) + 1);
    int8_t* got = malloc(m * n + 1);
    for (int isa = 0; isa < QE_ISA_COUNT; isa++) {
      if (!qe_isa_supported(isa)) continue;
      for (int t = 1; t <= 3; t++) {
        memset(got, 0x55, m * n);
        qe_spmm_run(qe_spmm_kernel_for(isa), packed, m, a, k, got, n, zo, qmin, qmax, scratch, t);
        for (size_t i = 0; i < m * n; i++)
          if (got[i] != want[i]) {
            printf("FAIL %s br=%d threads=%d m=%zu n=%zu k=%zu d=%d%%: [%zu] want %d got %d\n",
                   qe_spmm_kernel_name(qe_spmm_kernel_for(isa), br), br, t, m, n, k,
                   density_pct, i, want[i], got[i]);
            bad = 1;
            break;
          }
      }
    }
    free(ptr), free(idx), free(vals), free(packed), free(scratch), free(got);
  }
  { /* K-blocked 1x4: blocks of 4 input channels of one output channel */
    const size_t kbs = (k + 3) / 4;
    int32_t* ptr = calloc(n + 1, 4);
    int32_t* idx = malloc(4 * n * kbs + 4);
    int8_t* vals = calloc(4 * n * kbs + 4, 1);
    size_t nb = 0;
    for (size_t j = 0; j < n; j++) {
      for (size_t kb = 0; kb < kbs; kb++) {
        int any = 0;
        for (size_t i = 0; i < 4 && 4 * kb + i < k; i++) any |= w[j * k + 4 * kb + i] != 0;
        if (!any) continue;
        idx[nb] = (int32_t)kb;
        for (size_t i = 0; i < 4 && 4 * kb + i < k; i++)
          vals[4 * nb + i] = w[j * k + 4 * kb + i];
        nb++;
      }
      ptr[j + 1] = (int32_t)nb;
    }
    /* without and with the matrix-vector section (run when m < QE_KB4_MV_MAX_M) */
    const size_t base = qe_spmm_kb4_packed_size(n, k, nb);
    void* packed = malloc(base + qe_spmm_kb4_mv_size(n, k, ptr, idx, 4));
    int8_t* got = malloc(m * n + 1);
    int8_t* got_cm = malloc(n * (m + 3) + 1);
    int8_t* a_cm = malloc(k * (m + 5) + 1);
    for (size_t i = 0; i < m; i++)
      for (size_t kk = 0; kk < k; kk++) a_cm[kk * (m + 5) + i] = a[i * k + kk];
    /* blocked: group g of 4 channels, position i at [g * stride + 4 i], padded strides,
     * channels past K junk (their weights are 0) */
    const size_t kb4 = (k + 3) / 4, nb4 = (n + 3) / 4, a_bs = 4 * m + 12, c_bs = 4 * m + 8;
    int8_t* a_b = malloc(kb4 * a_bs + 1);
    int8_t* got_b = malloc(nb4 * c_bs + 1);
    for (size_t i = 0; i < kb4 * a_bs; i++) a_b[i] = (int8_t)(i * 37 + 11);
    for (size_t i = 0; i < m; i++)
      for (size_t kk = 0; kk < k; kk++) a_b[kk / 4 * a_bs + 4 * i + kk % 4] = a[i * k + kk];
    for (int with_mv = 0; with_mv <= 1; with_mv++) {
      qe_spmm_kb4_pack(n, k, ptr, idx, 4, vals, bias, m0, sh, packed);
      if (with_mv) qe_spmm_kb4_pack_mv(packed);
      for (int isa = 0; isa < QE_ISA_COUNT; isa++) {
        if (!qe_isa_supported(isa) || !qe_spmm_kb4_kernel_for(isa)) continue;
        const qe_spmm_kb4_kernel* kern = qe_spmm_kb4_kernel_for(isa);
        const size_t s1 = qe_spmm_kb4_scratch_size(kern, packed, m);
        const size_t s2 = qe_spmm_kb4_scratch_size_c4(kern, packed, m, 3);
        const size_t s3 = qe_spmm_kb4_scratch_size_cm(kern, packed, m, 3);
        const size_t s12 = s1 > s2 ? s1 : s2;
        void* scratch = malloc((s12 > s3 ? s12 : s3) + 1);
        for (int t = 1; t <= 3; t++) {
          memset(got, 0x55, m * n);
          qe_spmm_kb4_run(kern, packed, m, a, k, got, n, zo, qmin, qmax, scratch, t);
          for (size_t i = 0; i < m * n; i++)
            if (got[i] != want[i]) {
              printf("FAIL %s mv=%d threads=%d m=%zu n=%zu k=%zu d=%d%%: [%zu] want %d got %d\n",
                     qe_spmm_kb4_kernel_name(kern), with_mv, t, m, n, k, density_pct, i,
                     want[i], got[i]);
              bad = 1;
              break;
            }
          /* channel-major: A^T [K, M] in, C^T [N, M] out, both with padded rows */
          memset(got_cm, 0x55, n * (m + 3));
          qe_spmm_kb4_run_cm(kern, packed, m, a_cm, m + 5, got_cm, m + 3, zo, qmin, qmax,
                             scratch, t);
          for (size_t i = 0; i < m * n; i++)
            if (got_cm[(i % n) * (m + 3) + i / n] != want[i]) {
              printf("FAIL %s channel-major mv=%d threads=%d m=%zu n=%zu k=%zu d=%d%%: "
                     "[%zu] want %d got %d\n", qe_spmm_kb4_kernel_name(kern), with_mv, t, m,
                     n, k, density_pct, i, want[i], got_cm[(i % n) * (m + 3) + i / n]);
              bad = 1;
              break;
            }
          /* blocked: every byte of the groups written, channels past N 0 */
          memset(got_b, 0x55, nb4 * c_bs);
          qe_spmm_kb4_run_c4(kern, packed, m, a_b, a_bs, got_b, c_bs, zo, qmin, qmax, scratch,
                             t);
          for (size_t i = 0; i < m * nb4 * 4; i++) {
            const size_t pos = i / (4 * nb4), ch = i % (4 * nb4);
            const int8_t g = got_b[ch / 4 * c_bs + 4 * pos + ch % 4];
            const int8_t w8 = ch < n ? want[pos * n + ch] : 0;
            if (g != w8) {
              printf("FAIL %s blocked mv=%d threads=%d m=%zu n=%zu k=%zu d=%d%%: "
                     "position %zu channel %zu want %d got %d\n", qe_spmm_kb4_kernel_name(kern),
                     with_mv, t, m, n, k, density_pct, pos, ch, w8, g);
              bad = 1;
              break;
            }
          }
        }
        free(scratch);
      }
    }
    free(ptr), free(idx), free(vals), free(packed), free(got), free(got_cm), free(a_cm);
    free(a_b), free(got_b);
  }
  free(w), free(a), free(bias), free(m0), free(sh), free(want);
  return bad;
}

int main(void) {
  static const size_t dims[] = {1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 49, 64, 65, 130};
  static const int dens[] = {0, 1, 10, 50, 100};
  int failed = 0, cases = 0;
  for (size_t i = 0; i < 14; i++)
    for (size_t d = 0; d < 5; d++) {
      const size_t m = dims[i], n = dims[(i * 5 + d) % 14], k = dims[(i * 3 + d * 7) % 14];
      failed += run_case(m, n, k, dens[d], 0) != 0;
      failed += run_case(n, k + 1, m + 2, dens[d], (int)(d == 4)) != 0;
      cases += 2;
    }
  /* long rows: many 32-k-block chunks of the matrix-vector section, with a tail */
  static const size_t longk[][3] = {{1, 40, 700}, {2, 17, 1281}, {3, 64, 4100}, {1, 1000, 1280}};
  for (size_t i = 0; i < 4; i++)
    for (size_t d = 1; d < 4; d++) {
      failed += run_case(longk[i][0], longk[i][1], longk[i][2], dens[d], 0) != 0;
      cases++;
    }
  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_supported(isa)) printf("variant %s: tested\n", qe_isa_name(isa));
  printf("(each case: every variant x (BR 1, 4, K-blocked 1x4) x threads 1..3 vs dense eq. 3 "
         "and 5)\n");
  printf("%d passed, %d failed\n", cases - failed, failed);
  return failed != 0;
}
