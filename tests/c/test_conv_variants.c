/* Plain-C check that every compiled, supported ISA variant of qe_conv2d equals the scalar
 * reference bit for bit, on random shapes (all paths, depthwise tails, multipliers, extreme
 * requantization). Run natively and under qemu for the ARM variants by .ci/arm-kernels.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qengine.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t next(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}
static int rnd(int lo, int hi) { return lo + (int)(next() % (uint32_t)(hi - lo + 1)); }

static int8_t* run(int isa, const qe_conv2d* shape, size_t n, size_t h, size_t w,
                   const int8_t* x, const int8_t* wt, const int32_t* b, const int32_t* m0,
                   const int32_t* sh, int zo, int qmin, int qmax, int threads, size_t* out_n) {
  qe_conv2d cv = *shape;
  qe_conv2d_setup(&cv, isa, 0);
  void* packed = malloc(qe_conv2d_packed_size(&cv) + 1);
  qe_conv2d_pack(&cv, wt, b, m0, sh, packed);
  size_t ho, wo;
  qe_conv2d_out_size(&cv, h, w, &ho, &wo);
  *out_n = n * ho * wo * cv.o;
  int8_t* y = malloc(*out_n + 1);
  void* scratch = malloc(qe_conv2d_scratch_size(&cv, n, h, w, threads) + 1);
  qe_conv2d_run(&cv, packed, n, h, w, x, y, zo, qmin, qmax, scratch, threads);
  free(packed);
  free(scratch);
  return y;
}

int main(void) {
  int failures = 0, cases = 0;
  for (int it = 0; it < 400; it++) {
    qe_conv2d cv;
    memset(&cv, 0, sizeof cv);
    const int dw = it % 2;
    cv.kh = (size_t)rnd(1, 5), cv.kw = it % 3 ? cv.kh : (size_t)rnd(1, 5);
    cv.stride_h = cv.stride_w = (size_t)rnd(1, 2);
    cv.dilation_h = cv.dilation_w = it % 7 == 0 ? 2 : 1;
    cv.pad_top = (size_t)rnd(0, 2), cv.pad_left = (size_t)rnd(0, 2);
    cv.pad_bottom = (size_t)rnd(0, 2), cv.pad_right = (size_t)rnd(0, 2);
    const size_t g = it % 4 == 2 ? (size_t)rnd(2, 4) : 1; /* grouped, not depthwise */
    cv.c = dw ? (size_t)rnd(2, 70) : g * (size_t)rnd(1, 20);
    cv.groups = dw ? cv.c : g;
    cv.o = dw ? cv.c * (size_t)(it % 5 == 0 ? 2 : 1) : g * (size_t)rnd(1, 12);
    cv.pad_value = rnd(-128, 127);
    const size_t n = (size_t)rnd(1, 2);
    const size_t h = (cv.kh - 1) * cv.dilation_h + (size_t)rnd(1, 9);
    const size_t w = (cv.kw - 1) * cv.dilation_w + (size_t)rnd(1, 9);
    const size_t kg = cv.kh * cv.kw * (cv.c / cv.groups);
    int8_t* x = malloc(n * h * w * cv.c);
    int8_t* wt = malloc(cv.o * kg);
    int32_t *b = malloc(4 * cv.o), *m0 = malloc(4 * cv.o), *sh = malloc(4 * cv.o);
    for (size_t i = 0; i < n * h * w * cv.c; i++) x[i] = (int8_t)rnd(-128, 127);
    for (size_t i = 0; i < cv.o * kg; i++) wt[i] = (int8_t)rnd(-127, 127);
    for (size_t o = 0; o < cv.o; o++) {
      const int extreme = it % 4 == 3;
      b[o] = extreme ? (int32_t)next() : rnd(-100000, 100000);
      m0[o] = extreme && o % 3 == 0 ? 0x7FFFFFFF : (int32_t)((1u << 30) | (next() >> 2));
      sh[o] = extreme ? rnd(1, 62) : rnd(14, 24);
    }
    const int zo = rnd(-128, 127), qmin = rnd(-128, 0), qmax = rnd(0, 127);
    size_t len, len2;
    int8_t* want = run(QE_ISA_SCALAR, &cv, n, h, w, x, wt, b, m0, sh, zo, qmin, qmax, 1, &len);
    for (int isa = 1; isa < QE_ISA_COUNT; isa++) {
      if (!qe_isa_supported(isa)) continue;
      for (int threads = 1; threads <= 3; threads += 2) {
        int8_t* got = run(isa, &cv, n, h, w, x, wt, b, m0, sh, zo, qmin, qmax, threads, &len2);
        cases++;
        if (len != len2 || memcmp(got, want, len)) {
          failures++;
          fprintf(stderr, "MISMATCH %s it=%d dw=%d c=%zu o=%zu k=%zux%zu s=%zu\n",
                  qe_isa_name(isa), it, dw, cv.c, cv.o, cv.kh, cv.kw, cv.stride_h);
        }
        free(got);
      }
    }
    free(want), free(x), free(wt), free(b), free(m0), free(sh);
  }
  printf("conv variants: %d comparisons, %d mismatches (supported:", cases, failures);
  for (int isa = 0; isa < QE_ISA_COUNT; isa++)
    if (qe_isa_supported(isa))
      printf(" %s [%s]", qe_isa_name(isa), qe_gemm_kernel_name(qe_gemm_kernel_for(isa)));
  printf(")\n");
  return failures != 0 || cases == 0;
}
