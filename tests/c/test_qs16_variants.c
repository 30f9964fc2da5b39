/* Every compiled 16x8 variant this CPU runs (GEMM both accumulator paths and int8/int16
 * outputs, convolution paths, add, requantize, quantize), against the scalar variant with
 * one thread, through the public C API only. Built for ARM and run under qemu by
 * .ci/arm-kernels.sh (NEON vs scalar); builds and runs natively too. pytest checks the
 * scalar variant itself against numpy.
 *
 *   test_qs16_variants [--cases N] [--seed S] [--expect-best NAME]
 *
 * Ends with "N passed, M failed"; the exit code is non-zero on any failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qengine.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;

static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int64_t uniform(int64_t lo, int64_t hi) {
  return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}

static void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) { perror("malloc"); exit(2); }
  return p;
}

/* a random int16, one in `one_in` at an end of the range */
static int16_t x16(int one_in) {
  return (int16_t)(uniform(0, one_in - 1) == 0 ? (uniform(0, 1) ? 32767 : -32768)
                                               : uniform(-32768, 32767));
}

static int passed, failed;

static void check(const char* what, int isa, int threads, const void* got, const void* want,
                  size_t bytes, size_t m, size_t n, size_t k) {
  if (!memcmp(got, want, bytes)) { passed++; return; }
  failed++;
  if (failed <= 20)
    printf("FAIL %s isa=%s threads=%d shape=%zux%zux%zu\n", what, qe_isa_name(isa), threads,
           m, n, k);
}

/* Runs GEMM on ISA isa; returns the output (malloc'ed). */
static void* gemm(int isa, size_t m, size_t n, size_t k, const int16_t* a, const int8_t* w,
                  const int64_t* bias, const int32_t* m0, const int32_t* sh, int out8,
                  int32_t zo, int32_t qmin, int32_t qmax, int threads, int* acc64) {
  const qe_qs16_gemm_kernel* kern = qe_qs16_gemm_kernel_for(isa);
  void* packed = xmalloc(qe_qs16_gemm_packed_w_size(kern, n, k));
  qe_qs16_gemm_pack_w(kern, n, k, w, bias, m0, sh, packed);
  *acc64 = qe_qs16_gemm_packed_acc64(packed);
  void* scratch = xmalloc(qe_qs16_gemm_scratch_size(kern, m, k));
  void* c = xmalloc(m * n * 2);
  qe_qs16_gemm_run(kern, m, n, k, a, k, packed, c, n, out8, zo, qmin, qmax, scratch, threads);
  free(packed), free(scratch);
  return c;
}

static void gemm_case(const int* isas, int n_isa) {
  const size_t m = (size_t)uniform(1, 40), n = (size_t)uniform(1, 70);
  const size_t k = uniform(0, 3) == 0 ? (size_t)uniform(500, 1200) : (size_t)uniform(1, 90);
  const int wmax = uniform(0, 1) ? 127 : 3, out8 = (int)uniform(0, 1);
  int16_t* a = xmalloc(m * k * 2);
  int8_t* w = xmalloc(n * k);
  int64_t* bias = xmalloc(n * 8);
  int32_t *m0 = xmalloc(n * 4), *sh = xmalloc(n * 4);
  for (size_t i = 0; i < m * k; i++)
    a[i] = (int16_t)(uniform(0, 9) == 0 ? (uniform(0, 1) ? 32767 : -32768) : uniform(-32768, 32767));
  for (size_t i = 0; i < n * k; i++) w[i] = (int8_t)uniform(-wmax, wmax);
  for (size_t j = 0; j < n; j++) {
    bias[j] = uniform(0, 7) == 0 ? uniform(-((int64_t)1 << 40), (int64_t)1 << 40) : uniform(-(1 << 24), 1 << 24);
    m0[j] = (int32_t)uniform(1 << 30, INT32_MAX);
    sh[j] = (int32_t)uniform(1, 62);
  }
  const int32_t lo = out8 ? -128 : -32768, hi = out8 ? 127 : 32767;
  const int32_t zo = (int32_t)uniform(lo, hi), qmin = (int32_t)uniform(lo, 0), qmax = (int32_t)uniform(0, hi);
  int acc64;
  void* want = gemm(QE_ISA_SCALAR, m, n, k, a, w, bias, m0, sh, out8, zo, qmin, qmax, 1, &acc64);
  for (int v = 0; v < n_isa; v++)
    for (int t = 1; t <= 3; t++) {
      int acc64_v;
      void* got = gemm(isas[v], m, n, k, a, w, bias, m0, sh, out8, zo, qmin, qmax, t, &acc64_v);
      check(acc64 ? "gemm acc64" : "gemm acc32", isas[v], t, got, want, m * n * (out8 ? 1 : 2), m, n, k);
      free(got);
    }
  free(want), free(a), free(w), free(bias), free(m0), free(sh);
}

static void* conv(int isa, qe_conv2d cv, size_t nb, size_t h, size_t wd, const int16_t* x,
                  const int8_t* w, const int64_t* bias, const int32_t* m0, const int32_t* sh,
                  int out8, int32_t zo, int threads, size_t* out_bytes) {
  qe_qs16_conv2d_setup(&cv, isa, 0);
  void* packed = xmalloc(qe_qs16_conv2d_packed_size(&cv));
  qe_qs16_conv2d_pack(&cv, w, bias, m0, sh, packed);
  size_t ho, wo;
  qe_conv2d_out_size(&cv, h, wd, &ho, &wo);
  *out_bytes = nb * ho * wo * cv.o * (out8 ? 1 : 2);
  void* scratch = xmalloc(qe_qs16_conv2d_scratch_size(&cv, nb, h, wd, threads));
  void* y = xmalloc(*out_bytes);
  qe_qs16_conv2d_run(&cv, packed, nb, h, wd, x, y, out8, zo, out8 ? -128 : -32768,
                     out8 ? 127 : 32767, scratch, threads);
  free(packed), free(scratch);
  return y;
}

static void conv_case(const int* isas, int n_isa) {
  qe_conv2d cv;
  memset(&cv, 0, sizeof(cv));
  const int depthwise = (int)uniform(0, 1);
  cv.c = (size_t)uniform(1, 40);
  cv.groups = depthwise ? cv.c : 1;
  cv.o = depthwise ? cv.c : (size_t)uniform(1, 20);
  cv.kh = (size_t)uniform(1, 3), cv.kw = (size_t)uniform(1, 3);
  cv.stride_h = (size_t)uniform(1, 2), cv.stride_w = (size_t)uniform(1, 2);
  cv.dilation_h = cv.dilation_w = 1;
  cv.pad_top = cv.pad_bottom = cv.kh / 2, cv.pad_left = cv.pad_right = cv.kw / 2;
  cv.pad_value = (int32_t)uniform(-32768, 32767);
  const size_t nb = 1, h = (size_t)uniform(3, 8), wd = (size_t)uniform(3, 8);
  const size_t kg = cv.kh * cv.kw * (cv.c / cv.groups);
  int16_t* x = xmalloc(nb * h * wd * cv.c * 2);
  int8_t* w = xmalloc(cv.o * kg);
  int64_t* bias = xmalloc(cv.o * 8);
  int32_t *m0 = xmalloc(cv.o * 4), *sh = xmalloc(cv.o * 4);
  /* sometimes int8 outputs, extreme inputs, and a bias beyond eq. 21 (the int64 path) */
  const int out8 = (int)uniform(0, 1), big = uniform(0, 3) == 0;
  const int32_t zo = out8 ? (int32_t)uniform(-128, 127) : (int32_t)uniform(-32768, 32767);
  for (size_t i = 0; i < nb * h * wd * cv.c; i++) x[i] = x16(6);
  for (size_t i = 0; i < cv.o * kg; i++) w[i] = (int8_t)uniform(-127, 127);
  for (size_t j = 0; j < cv.o; j++) {
    bias[j] = big ? uniform(-((int64_t)1 << 40), (int64_t)1 << 40) : uniform(-(1 << 20), 1 << 20);
    m0[j] = (int32_t)uniform(1 << 30, INT32_MAX);
    sh[j] = (int32_t)(big ? uniform(50, 62) : uniform(30, 50));
  }
  size_t bytes;
  void* want = conv(QE_ISA_SCALAR, cv, nb, h, wd, x, w, bias, m0, sh, out8, zo, 1, &bytes);
  for (int v = 0; v < n_isa; v++)
    for (int t = 1; t <= 3; t++) {
      void* got = conv(isas[v], cv, nb, h, wd, x, w, bias, m0, sh, out8, zo, t, &bytes);
      check(depthwise ? "conv depthwise" : "conv", isas[v], t, got, want, bytes, cv.c, cv.o, kg);
      free(got);
    }
  free(want), free(x), free(w), free(bias), free(m0), free(sh);
}

/* add parameters: those of eq. 23 (ka, kb in [0, 2^20], |bias| <= 2^37, sh in [39, 62]),
 * often at their ends, sometimes outside eq. 28's domain (sh < 32: the plain C runs) */
static qe_qs16_add_params add_params(void) {
  static const int64_t kends[] = {0, 1, 1 << 20};
  qe_qs16_add_params p;
  p.ka = (int32_t)(uniform(0, 2) ? uniform(0, 1 << 20) : kends[uniform(0, 2)]);
  p.kb = (int32_t)(uniform(0, 2) ? uniform(0, 1 << 20) : kends[uniform(0, 2)]);
  const int64_t b37 = (int64_t)1 << 37;
  p.bias = uniform(0, 3) ? uniform(-b37, b37) : (uniform(0, 1) ? b37 : -b37);
  p.m0 = (int32_t)(uniform(0, 3) ? uniform(1 << 30, INT32_MAX) : (uniform(0, 1) ? INT32_MAX : 0));
  p.sh = (int32_t)(uniform(0, 9) == 0 ? uniform(20, 38) : uniform(39, 62));
  p.zo = (int32_t)(uniform(0, 3) ? uniform(-100, 100) : (uniform(0, 1) ? 32767 : -32768));
  p.qmin = (int32_t)(uniform(0, 1) ? -32768 : uniform(-32768, 0));
  p.qmax = (int32_t)(uniform(0, 1) ? 32767 : uniform(0, 32767));
  return p;
}

static void ops_case(const int* isas, int n_isa) {
  const size_t n = (size_t)(uniform(0, 1) ? uniform(1, 70) : uniform(1, 9000));
  int16_t *a = xmalloc(n * 2), *b = xmalloc(n * 2), *y0 = xmalloc(n * 2), *y1 = xmalloc(n * 2);
  float* f = xmalloc(n * 4);
  for (size_t i = 0; i < n; i++) {
    a[i] = x16(8), b[i] = x16(8);
    f[i] = (float)uniform(-40000000, 40000000) / 1000.0f;
  }
  const qe_qs16_add_params ap = add_params();
  /* broadcasting: [rows, n / rows] with b (or a) a scalar, a per-column row, or full */
  const size_t rows = (size_t)uniform(1, 3), cols = n / rows;
  const size_t shape[2] = {rows, cols}, full[2] = {cols, 1}, none[2] = {0, 0}, col[2] = {0, 1};
  const int mode = (int)uniform(0, 3);
  const size_t* as = mode == 2 ? none : full;
  const size_t* bs = mode == 0 ? none : mode == 1 ? col : mode == 2 ? full : col;
  qe_qs16_requant_params rp = {(int32_t)uniform(-100, 100), (int32_t)uniform(1 << 30, INT32_MAX),
                               (int32_t)uniform(20, 40), (int32_t)uniform(-100, 100), -128, 127};
  qe_f32_qs8_params qp = {(float)uniform(1, 4000) / 64.0f, (int32_t)uniform(-500, 500)};
  const int saved = qe_isa_selected();
  for (int v = 0; v < n_isa; v++)
    for (int t = 1; t <= 3; t++) {
      qe_isa_select(QE_ISA_SCALAR);
      qe_qs16_add(n, a, b, y0, &ap, 1);
      qe_isa_select(isas[v]);
      qe_qs16_add(n, a, b, y1, &ap, t);
      check("add", isas[v], t, y1, y0, n * 2, n, 1, 1);
      if (cols) {
        qe_isa_select(QE_ISA_SCALAR);
        qe_qs16_add_bcast(2, shape, a, as, b, bs, y0, &ap, 1);
        qe_isa_select(isas[v]);
        qe_qs16_add_bcast(2, shape, a, as, b, bs, y1, &ap, t);
        check("add broadcast", isas[v], t, y1, y0, rows * cols * 2, rows, cols, (size_t)mode);
      }
      qe_isa_select(QE_ISA_SCALAR);
      qe_qs16_requantize(n, a, 1, y0, 0, &rp, 1);
      qe_isa_select(isas[v]);
      qe_qs16_requantize(n, a, 1, y1, 0, &rp, t);
      check("requantize", isas[v], t, y1, y0, n, n, 1, 1);
      qe_isa_select(QE_ISA_SCALAR);
      qe_f32_qs16_quantize(n, f, y0, &qp, 1);
      qe_isa_select(isas[v]);
      qe_f32_qs16_quantize(n, f, y1, &qp, t);
      check("quantize", isas[v], t, y1, y0, n * 2, n, 1, 1);
    }
  qe_isa_select(saved);
  free(a), free(b), free(y0), free(y1), free(f);
}

/* max / average / global average pool on a random geometry (windows of up to 25 pixels:
 * more than one 16-row batch of the drivers), odd channel counts, extreme inputs */
static void pool_case(const int* isas, int n_isa) {
  qe_pool_geometry g;
  g.n = (size_t)uniform(1, 2), g.h = (size_t)uniform(1, 9), g.w = (size_t)uniform(1, 9);
  g.c = (size_t)(uniform(0, 3) ? uniform(1, 70) : uniform(250, 300));
  g.kh = (size_t)uniform(1, 5), g.kw = (size_t)uniform(1, 5);
  g.stride_h = (size_t)uniform(1, 2), g.stride_w = (size_t)uniform(1, 2);
  g.pad_top = (size_t)uniform(0, (int64_t)g.kh - 1), g.pad_bottom = (size_t)uniform(0, (int64_t)g.kh - 1);
  g.pad_left = (size_t)uniform(0, (int64_t)g.kw - 1), g.pad_right = (size_t)uniform(0, (int64_t)g.kw - 1);
  if (g.h + g.pad_top + g.pad_bottom < g.kh || g.w + g.pad_left + g.pad_right < g.kw) return;
  g.oh = (g.h + g.pad_top + g.pad_bottom - g.kh) / g.stride_h + 1;
  g.ow = (g.w + g.pad_left + g.pad_right - g.kw) / g.stride_w + 1;
  const size_t nx = g.n * g.h * g.w * g.c, ny = g.n * g.oh * g.ow * g.c;
  const int extreme = (int)uniform(0, 3);
  int16_t *x = xmalloc(nx * 2), *y0 = xmalloc(ny * 2), *y1 = xmalloc(ny * 2);
  for (size_t i = 0; i < nx; i++)
    x[i] = extreme == 0 ? -32768 : extreme == 1 ? 32767 : x16(5);
  int32_t m0[26], sh[26];
  for (int i = 0; i < 26; i++) m0[i] = (int32_t)uniform(1 << 30, INT32_MAX), sh[i] = (int32_t)uniform(30, 40);
  const qe_qs8_avgpool_params ap = {(int32_t)uniform(-32768, 32767), (int32_t)uniform(-300, 300),
                                    -32768, (int32_t)uniform(0, 32767), (int)uniform(0, 1), m0, sh};
  const size_t hw = g.h * g.w;
  const qe_qs16_gavgpool_params gp = {-(int64_t)hw * uniform(-32768, 32767),
                                      (int32_t)uniform(1 << 30, INT32_MAX),
                                      (int32_t)uniform(30, 45), (int32_t)uniform(-300, 300),
                                      -32768, 32767};
  const int32_t qmin = (int32_t)uniform(-32768, 0), qmax = (int32_t)uniform(0, 32767);
  const int saved = qe_isa_selected();
  for (int v = 0; v < n_isa; v++)
    for (int t = 1; t <= 3; t += 2) {
      qe_isa_select(QE_ISA_SCALAR);
      qe_qs16_maxpool(&g, x, y0, qmin, qmax, 1);
      qe_isa_select(isas[v]);
      qe_qs16_maxpool(&g, x, y1, qmin, qmax, t);
      check("maxpool", isas[v], t, y1, y0, ny * 2, g.oh, g.ow, g.c);
      qe_isa_select(QE_ISA_SCALAR);
      qe_qs16_avgpool(&g, x, y0, &ap, 1);
      qe_isa_select(isas[v]);
      qe_qs16_avgpool(&g, x, y1, &ap, t);
      check("avgpool", isas[v], t, y1, y0, ny * 2, g.oh, g.ow, g.c);
      qe_isa_select(QE_ISA_SCALAR);
      qe_qs16_gavgpool(g.n, hw, g.c, x, y0, &gp, 1);
      qe_isa_select(isas[v]);
      qe_qs16_gavgpool(g.n, hw, g.c, x, y1, &gp, t);
      check("gavgpool", isas[v], t, y1, y0, g.n * g.c * 2, g.n, hw, g.c);
    }
  qe_isa_select(saved);
  free(x), free(y0), free(y1);
}

int main(int argc, char** argv) {
  int cases = 200;
  const char* expect_best = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) g_rng = strtoull(argv[++i], NULL, 0);
    else if (!strcmp(argv[i], "--expect-best") && i + 1 < argc) expect_best = argv[++i];
    else if (!strcmp(argv[i], "--verbose")) continue;
    else {
      fprintf(stderr, "usage: %s [--cases N] [--seed S] [--expect-best NAME]\n", argv[0]);
      return 2;
    }
  }
  int isas[QE_ISA_COUNT], n_isa = 0;
  for (int i = 0; i < QE_ISA_COUNT; i++)
    if (qe_isa_supported(i)) isas[n_isa++] = i;
  printf("isa: best %s\n", qe_isa_name(qe_isa_best()));
  if (expect_best && strcmp(expect_best, qe_isa_name(qe_isa_best()))) {
    printf("FAIL expected best variant %s\n", expect_best);
    failed++;
  }
  for (int v = 0; v < n_isa; v++)
    printf("kernel %s / %s\n", qe_qs16_gemm_kernel_name(qe_qs16_gemm_kernel_for(isas[v]), 0),
           qe_qs16_gemm_kernel_name(qe_qs16_gemm_kernel_for(isas[v]), 1));
  for (int c = 0; c < cases; c++) {
    gemm_case(isas, n_isa);
    if (c % 2 == 0) conv_case(isas, n_isa);
    if (c % 4 == 0) ops_case(isas, n_isa);
    if (c % 4 == 2) pool_case(isas, n_isa);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
