/* Every compiled GEMM variant this CPU runs, against the scalar kernel, through the public
 * C API (qengine.h) only. Built for ARM and run under qemu by .ci/arm-kernels.sh; builds
 * and runs natively too. The scalar kernel itself is checked against numpy by pytest.
 *
 *   test_gemm_variants [--cases N] [--seed S] [--expect-best NAME] [--verbose]
 *
 * Each case draws a shape (M, N, K in 1..150, around the tiles), data and requantization
 * parameters, runs scalar with one thread as the reference, then every supported variant
 * (scalar too) with 1, 2 and 3 threads. One check = one (case, variant, threads) run
 * compared byte for byte, including the bytes around C that no kernel may write. Inputs,
 * packed weights and scratch end right before a PROT_NONE page, so reading past them
 * faults. Ends with "N passed, M failed"; the exit code is non-zero on any failure. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qengine.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int64_t uniform(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}

static int pick(const int* v, int n) { return v[uniform(0, n - 1)]; }

/* ---- memory that faults right after its end --------------------------------------------- */
typedef struct {
  void* map;
  size_t map_size;
} guarded;

/* Returns a 16-byte aligned block of `size` bytes that ends less than 16 bytes before a
 * PROT_NONE page. */
static void* guarded_alloc(guarded* g, size_t size) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t body = (size + 15 + page - 1) / page * page;
  g->map_size = body + page;
  g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->map == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  if (mprotect((char*)g->map + body, page, PROT_NONE) != 0) {
    perror("mprotect");
    exit(2);
  }
  return (void*)((uintptr_t)((char*)g->map + body - size) & ~(uintptr_t)15);
}

static void guarded_free(guarded* g) { munmap(g->map, g->map_size); }

/* ---- one test case ---------------------------------------------------------------------- */
typedef struct {
  size_t m, n, k, a_stride, c_stride;
  int8_t* a;
  int8_t* w;
  int32_t *bias, *m0, *sh;
  int32_t zo, qmin, qmax;
  char what[160];
} gemm_case;

#define CANARY 0x5A

static const int kEdge[] = {1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 23, 24, 31,
                            32, 33, 47, 48, 49, 63, 64, 65, 97, 127, 128, 129, 150};
#define N_EDGE ((int)(sizeof(kEdge) / sizeof(kEdge[0])))

static size_t draw_dim(void) {
  return (size_t)(uniform(0, 2) ? pick(kEdge, N_EDGE) : uniform(1, 150));
}

static int32_t draw_m0(int mode) {
  switch (mode) {
    case 0: return 1 << 30;
    case 1: return INT32_MAX;
    case 2: return (int32_t)uniform(0, INT32_MAX); /* any valid m0, small ones included */
    default: return (int32_t)uniform(1 << 30, INT32_MAX);
  }
}

static int64_t clamp_sh(int64_t sh) { return sh < 1 ? 1 : sh > 62 ? 62 : sh; }

static void make_case(gemm_case* t, guarded* ga) {
  t->m = draw_dim(), t->n = draw_dim(), t->k = draw_dim();
  t->a_stride = t->k + (uniform(0, 3) == 0 ? (size_t)uniform(1, 9) : 0);
  t->c_stride = t->n + (uniform(0, 3) == 0 ? (size_t)uniform(1, 9) : 0);
  const int a_mode = (int)uniform(0, 5), w_mode = (int)uniform(0, 4);
  const int m0_mode = (int)uniform(0, 3), sh_mode = (int)uniform(0, 4);
  const int bias_mode = (int)uniform(0, 4);

  /* the last row of A ends at the guard page (stride padding only between rows) */
  const size_t a_bytes = (t->m - 1) * t->a_stride + t->k;
  t->a = guarded_alloc(ga, a_bytes);
  for (size_t i = 0; i < t->m; i++)
    for (size_t kk = 0; kk < t->k; kk++) {
      int v;
      switch (a_mode) {
        case 0: v = -128; break;
        case 1: v = 127; break;
        case 2: v = uniform(0, 1) ? -128 : 127; break;
        default: v = (int)uniform(-128, 127);
      }
      t->a[i * t->a_stride + kk] = (int8_t)v;
    }

  t->w = malloc(t->n * t->k);
  t->bias = malloc(t->n * sizeof(int32_t));
  t->m0 = malloc(t->n * sizeof(int32_t));
  t->sh = malloc(t->n * sizeof(int32_t));
  const int sh_case = (int)uniform(1, 62);
  for (size_t j = 0; j < t->n; j++) {
    for (size_t kk = 0; kk < t->k; kk++) {
      int v;
      switch (w_mode) {
        case 0: v = -127; break;
        case 1: v = 127; break;
        case 2: v = ((j + kk) & 1) ? 127 : -127; break;
        default: v = (int)uniform(-127, 127);
      }
      t->w[j * t->k + kk] = (int8_t)v;
    }
    switch (bias_mode) {
      case 0: t->bias[j] = 0; break;
      case 1: t->bias[j] = (int32_t)uniform(INT32_MIN, INT32_MAX); break; /* wraps (eq. 3) */
      default: t->bias[j] = (int32_t)uniform(-(1 << 20), 1 << 20);
    }
    t->m0[j] = draw_m0(m0_mode == 3 ? (int)uniform(0, 3) : m0_mode);
    /* sh_mode 2..4: a shift that puts row 0's output near +-32, give or take a bit */
    int64_t acc0 = t->bias[j];
    for (size_t kk = 0; kk < t->k; kk++) acc0 += (int64_t)t->a[kk] * t->w[j * t->k + kk];
    int lg = 0;
    for (uint64_t x = (uint64_t)(acc0 < 0 ? -acc0 : acc0) * (uint64_t)t->m0[j]; x > 1; x >>= 1)
      lg++;
    switch (sh_mode) {
      case 0: t->sh[j] = (int32_t)uniform(1, 62); break;
      case 1: t->sh[j] = sh_case; break;
      default: t->sh[j] = (int32_t)clamp_sh(lg - 5 + uniform(-1, 1));
    }
  }

  const int zo_pick[] = {-128, 127, 0};
  t->zo = uniform(0, 2) == 0 ? pick(zo_pick, 3) : (int32_t)uniform(-128, 127);
  switch (uniform(0, 3)) {
    case 0:
    case 1: t->qmin = -128, t->qmax = 127; break;
    case 2: t->qmin = t->zo, t->qmax = 127; break; /* ReLU */
    default:
      t->qmin = (int32_t)uniform(-128, 127);
      t->qmax = (int32_t)uniform(t->qmin, 127); /* qmin == qmax possible */
  }
  snprintf(t->what, sizeof(t->what),
           "M=%zu N=%zu K=%zu a_stride=%zu c_stride=%zu a_mode=%d w_mode=%d m0_mode=%d "
           "sh_mode=%d bias_mode=%d zo=%d qmin=%d qmax=%d",
           t->m, t->n, t->k, t->a_stride, t->c_stride, a_mode, w_mode, m0_mode, sh_mode,
           bias_mode, t->zo, t->qmin, t->qmax);
}

static void free_case(gemm_case* t, guarded* ga) {
  guarded_free(ga);
  free(t->w), free(t->bias), free(t->m0), free(t->sh);
}

/* Runs the case on one kernel; out gets rows of c_stride bytes plus a canary row. */
static void run_case(const gemm_case* t, int isa, int threads, int8_t* out) {
  const qe_gemm_kernel* kern = qe_gemm_kernel_for(isa);
  guarded gw, gs;
  void* packed = guarded_alloc(&gw, qe_gemm_packed_w_size(kern, t->n, t->k));
  qe_gemm_pack_w(kern, t->n, t->k, t->w, t->bias, t->m0, t->sh, packed);
  const size_t scratch_size = qe_gemm_scratch_size(kern, t->m, t->k);
  void* scratch = scratch_size ? guarded_alloc(&gs, scratch_size) : NULL;
  memset(out, CANARY, (t->m + 1) * t->c_stride);
  qe_gemm_run(kern, t->m, t->n, t->k, t->a, t->a_stride, packed, out, t->c_stride, t->zo,
              t->qmin, t->qmax, scratch, threads);
  if (scratch) guarded_free(&gs);
  guarded_free(&gw);
}

/* ---- dispatch --------------------------------------------------------------------------- */
static int check_dispatch(const char* expect_best, int* passed, int* failed) {
  const int best = qe_isa_best();
  printf("isa: best=%s selected=%s supported:", qe_isa_name(best),
         qe_isa_name(qe_isa_selected()));
  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_supported(isa)) printf(" %s", qe_isa_name(isa));
  printf(" | compiled:");
  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_compiled(isa)) printf(" %s", qe_isa_name(isa));
  printf("\n");
  int ok = 1;
  if (expect_best && strcmp(expect_best, qe_isa_name(best)) != 0) {
    printf("FAIL dispatch: best is %s, expected %s\n", qe_isa_name(best), expect_best);
    ok = 0;
  }
  if (qe_isa_selected() != best) {
    printf("FAIL dispatch: selected %s before any select, best %s\n",
           qe_isa_name(qe_isa_selected()), qe_isa_name(best));
    ok = 0;
  }
  /* forcing a variant this CPU lacks (or an unknown id) fails and changes nothing */
  const int probes[] = {-1, QE_ISA_SCALAR, QE_ISA_AVX2, QE_ISA_AVX512VNNI, QE_ISA_NEON,
                        QE_ISA_NEONDOT, QE_ISA_COUNT, 99};
  for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
    const int isa = probes[i], before = qe_isa_selected();
    const int rc = qe_isa_select(isa), want = qe_isa_supported(isa) ? 0 : -1;
    if (rc != want || (rc != 0 && qe_isa_selected() != before) ||
        (rc == 0 && qe_isa_selected() != isa)) {
      printf("FAIL dispatch: qe_isa_select(%d %s) = %d, expected %d\n", isa, qe_isa_name(isa),
             rc, want);
      ok = 0;
    }
    if (rc == -1) printf("isa: forcing unsupported %s -> -1 (ok)\n", qe_isa_name(isa));
  }
  qe_isa_select(best);
  *passed += ok, *failed += !ok;
  return ok;
}

int main(int argc, char** argv) {
  int cases = 300, verbose = 0;
  const char* expect_best = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) g_rng = strtoull(argv[++i], NULL, 0);
    else if (!strcmp(argv[i], "--expect-best") && i + 1 < argc) expect_best = argv[++i];
    else if (!strcmp(argv[i], "--verbose")) verbose = 1;
    else {
      fprintf(stderr, "usage: %s [--cases N] [--seed S] [--expect-best NAME] [--verbose]\n",
              argv[0]);
      return 2;
    }
  }

  int passed = 0, failed = 0;
  size_t n_out = 0, n_clamped = 0; /* how many reference outputs sit at qmin or qmax */
  int var_passed[QE_ISA_COUNT] = {0}, var_failed[QE_ISA_COUNT] = {0};
  check_dispatch(expect_best, &passed, &failed);
  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_supported(isa)) {
      int mr, nr, kr;
      qe_gemm_kernel_tile(qe_gemm_kernel_for(isa), &mr, &nr, &kr);
      printf("kernel %-8s %s (MR=%d NR=%d KR=%d)\n", qe_isa_name(isa),
             qe_gemm_kernel_name(qe_gemm_kernel_for(isa)), mr, nr, kr);
    }

  for (int c = 0; c < cases; c++) {
    gemm_case t;
    guarded ga;
    make_case(&t, &ga);
    const size_t out_bytes = (t.m + 1) * t.c_stride;
    int8_t* want = malloc(out_bytes);
    int8_t* got = malloc(out_bytes);
    run_case(&t, QE_ISA_SCALAR, 1, want);
    for (size_t at = 0; at < out_bytes; at++) /* the reference, too, writes only C */
      if ((at / t.c_stride >= t.m || at % t.c_stride >= t.n) && want[at] != CANARY) {
        printf("FAIL case %d scalar wrote outside C at byte %zu: %s\n", c, at, t.what);
        failed++, var_failed[QE_ISA_SCALAR]++;
        break;
      }
    size_t clamped = 0;
    for (size_t i = 0; i < t.m; i++)
      for (size_t j = 0; j < t.n; j++) {
        const int8_t v = want[i * t.c_stride + j];
        clamped += v == t.qmin || v == t.qmax;
      }
    n_out += t.m * t.n, n_clamped += clamped;
    if (verbose) printf("case %d: %s clamped=%zu/%zu\n", c, t.what, clamped, t.m * t.n);
    for (int isa = 0; isa < QE_ISA_COUNT; isa++) {
      if (!qe_isa_supported(isa)) continue;
      for (int threads = 1; threads <= 3; threads++) {
        if (isa == QE_ISA_SCALAR && threads == 1) continue; /* that is the reference */
        run_case(&t, isa, threads, got);
        if (memcmp(got, want, out_bytes) == 0) {
          passed++, var_passed[isa]++;
          continue;
        }
        failed++, var_failed[isa]++;
        size_t at = 0;
        while (got[at] == want[at]) at++;
        const size_t row = at / t.c_stride, col = at % t.c_stride;
        printf("FAIL case %d %s threads=%d: %s\n  first difference at row %zu col %zu "
               "(%s): want %d got %d; m0=%d sh=%d\n",
               c, qe_gemm_kernel_name(qe_gemm_kernel_for(isa)), threads, t.what, row, col,
               row < t.m && col < t.n ? "output" : "outside C, must stay untouched",
               want[at], got[at], col < t.n ? t.m0[col] : 0, col < t.n ? t.sh[col] : 0);
      }
    }
    free(want), free(got);
    free_case(&t, &ga);
  }

  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_supported(isa))
      printf("%-8s: %d passed, %d failed%s\n", qe_isa_name(isa), var_passed[isa],
             var_failed[isa], isa == QE_ISA_SCALAR ? " (threads 2, 3 vs 1)" : "");
  printf("%d cases, %zu reference outputs, %.0f%% of them at qmin or qmax\n", cases, n_out,
         n_out ? 100.0 * (double)n_clamped / (double)n_out : 0.0);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
