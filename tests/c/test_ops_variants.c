/* Cross-variant check of the operator kernels in plain C, for machines (or emulators) where
 * the Python tests cannot run, e.g. the ARM builds under qemu (.ci/arm-kernels.sh).
 * Every supported variant must give byte-identical outputs to the scalar one. Exit code 0
 * when all agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qengine.h"

static uint64_t g_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  g_state ^= g_state << 13, g_state ^= g_state >> 7, g_state ^= g_state << 17;
  return (uint32_t)(g_state >> 11);
}
static int32_t rnd_in(int32_t lo, int32_t hi) {
  return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}
static void fill(int8_t* p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (int8_t)rnd(); }

static int g_fail = 0;
static void check(const char* what, int isa, const void* want, const void* got, size_t bytes,
                  size_t n) {
  if (memcmp(want, got, bytes)) {
    printf("MISMATCH %s isa=%s n=%zu\n", what, qe_isa_name(isa), n);
    g_fail = 1;
  }
}

#define NLEN 14
static const size_t kLens[NLEN] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 129, 1000};

/* Runs `body` (which writes `out` of `bytes`) under scalar and under `isa`; compares. */
#define CROSS(what, isa, out, bytes, n, body)                       \
  do {                                                              \
    void* want_ = malloc(bytes);                                    \
    qe_isa_select(QE_ISA_SCALAR);                                   \
    body;                                                           \
    memcpy(want_, out, bytes);                                      \
    memset(out, 0x5A, bytes);                                       \
    qe_isa_select(isa);                                             \
    body;                                                           \
    check(what, isa, want_, out, bytes, n);                         \
    free(want_);                                                    \
  } while (0)

static void run(int isa) {
  int8_t *a = malloc(4096), *b = malloc(4096), *y = malloc(4096 * 4);
  float *f = malloc(4096 * sizeof(float)), *fy = malloc(4096 * sizeof(float));
  int8_t table[256];
  for (int rep = 0; rep < 20; rep++)
    for (int li = 0; li < NLEN; li++) {
      const size_t n = kLens[li];
      fill(a, n), fill(b, n), fill(table, 256);
      CROSS("lut", isa, y, n, n, qe_x8_lut(n, a, y, table, 1));
      qe_qs8_add_params p;
      p.ka = rnd_in(0, 1 << 20), p.kb = rnd_in(0, 1 << 20);
      p.bias = -(rnd_in(-128, 127) * p.ka + rnd_in(-128, 127) * p.kb);
      p.m0 = rnd_in(1 << 30, 0x7FFFFFFF), p.sh = rnd_in(rep < 10 ? 30 : 1, 62);
      p.zo = rnd_in(-128, 127), p.qmin = rnd_in(-128, 0), p.qmax = rnd_in(0, 127);
      const size_t shape[1] = {n}, one[1] = {1}, zero[1] = {0};
      CROSS("add", isa, y, n, n, qe_qs8_add(1, shape, a, one, b, one, y, &p, 1));
      CROSS("add_bcast", isa, y, n, n, qe_qs8_add(1, shape, a, one, b, zero, y, &p, 1));
      CROSS("add_bcast_a", isa, y, n, n, qe_qs8_add(1, shape, a, zero, b, one, y, &p, 1));
      const qe_qs8_mul_params mp = {rnd_in(-128, 127), rnd_in(-128, 127), p.m0,
                                    rnd_in(rep < 10 ? 30 : 15, 46), p.zo, p.qmin, p.qmax};
      CROSS("mul", isa, y, n, n, qe_qs8_mul(1, shape, a, one, b, one, y, &mp, 1));
      CROSS("mul_bcast", isa, y, n, n, qe_qs8_mul(1, shape, a, one, b, zero, y, &mp, 1));
      CROSS("mul_bcast_a", isa, y, n, n, qe_qs8_mul(1, shape, a, zero, b, one, y, &mp, 1));
      qe_qs8_gavgpool_params g = {0, p.m0, p.sh, p.zo, p.qmin, p.qmax};
      const size_t hw = 1 + rnd() % 9, c = n;
      int8_t* img = malloc(hw * c);
      fill(img, hw * c);
      g.bias = -(int32_t)hw * rnd_in(-128, 127);
      CROSS("gavgpool", isa, y, c, c, qe_qs8_gavgpool(1, hw, c, img, y, &g, 1));
      free(img);
      for (size_t i = 0; i < n; i++) {
        const uint32_t k = rnd() % 16;
        f[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY
             : k == 3 ? (float)rnd_in(-300, 300) + 0.5f
             : ((float)(int32_t)rnd() / 2147483648.0f) * 300.0f;
      }
      const qe_f32_qs8_params qp = {(float)(1.0 / (0.01 + rnd() % 100 * 0.01)), rnd_in(-128, 127)};
      CROSS("quantize", isa, y, n, n, qe_f32_qs8_quantize(n, f, y, &qp, 1));
      const qe_qs8_f32_params dp = {0.0123f * (float)(1 + rnd() % 50), rnd_in(-128, 127)};
      CROSS("dequantize", isa, fy, n * sizeof(float), n, qe_qs8_f32_dequantize(n, a, fy, &dp, 1));
    }
  /* max pool: a few geometries with odd channel counts */
  for (int rep = 0; rep < 40; rep++) {
    qe_pool_geometry g;
    g.n = 1, g.h = 1 + rnd() % 9, g.w = 1 + rnd() % 9, g.c = 1 + rnd() % 40;
    g.kh = 1 + rnd() % 3, g.kw = 1 + rnd() % 3;
    g.stride_h = 1 + rnd() % 2, g.stride_w = 1 + rnd() % 2;
    g.pad_top = rnd() % g.kh, g.pad_bottom = rnd() % g.kh;
    g.pad_left = rnd() % g.kw, g.pad_right = rnd() % g.kw;
    if (g.h + g.pad_top + g.pad_bottom < g.kh || g.w + g.pad_left + g.pad_right < g.kw) continue;
    g.oh = (g.h + g.pad_top + g.pad_bottom - g.kh) / g.stride_h + 1;
    g.ow = (g.w + g.pad_left + g.pad_right - g.kw) / g.stride_w + 1;
    int8_t* img = malloc(g.h * g.w * g.c);
    fill(img, g.h * g.w * g.c);
    const size_t bytes = g.oh * g.ow * g.c;
    CROSS("maxpool", isa, y, bytes, g.c, qe_qs8_maxpool(&g, img, y, -100, 120, 1));
    /* average pool: a multiplier per divisor count (1 .. kh * kw) */
    int32_t m0[10], sh[10];
    for (int i = 0; i < 10; i++) m0[i] = rnd_in(1 << 30, 0x7FFFFFFF), sh[i] = rnd_in(31, 40);
    const qe_qs8_avgpool_params ap = {rnd_in(-128, 127), rnd_in(-128, 127), -128 + rep, 127 - rep,
                                      rep % 2, m0, sh};
    CROSS("avgpool", isa, y, bytes, g.c, qe_qs8_avgpool(&g, img, y, &ap, 1));
    free(img);
  }
  free(a), free(b), free(y), free(f), free(fy);
}

int main(void) {
  int tested = 0;
  for (int isa = 1; isa < QE_ISA_COUNT; isa++) {
    if (!qe_isa_supported(isa)) continue;
    printf("checking %s against scalar\n", qe_isa_name(isa));
    run(isa);
    tested++;
  }
  printf("%s (%d variant(s) checked)\n", g_fail ? "FAILED" : "all equal", tested);
  return g_fail || tested == 0;
}
