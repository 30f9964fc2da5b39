/* The 16x8 operator ukernels compiled for neon (see qs16_ops_impl.h); depthwise, add and
 * the pooling sums / maxima in NEON intrinsics (below, ARMv7 and AArch64 alike), the rest
 * from the plain C of the impl. */
#include <arm_neon.h>
#include <string.h>

#include "qs16/qs16_ops.h"

static void dwconv_row_neon(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                            const int16_t* w, const int64_t* bias, const int32_t* m0,
                            const int32_t* sh, int acc64, void* y, const qe_qs16_params* p);
static void add_neon(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                     const qe_qs16_add_params* p);
static void addc_neon(size_t n, const int16_t* a, int16_t b, int16_t* y,
                      const qe_qs16_add_params* p);
static void max_neon(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
                     int32_t qmax);
static void sum_neon(size_t c, size_t k, const int16_t* const* rows, int64_t* acc);

#define QE_QS16_DWCONV_ROW dwconv_row_neon
#define QE_QS16_ADD add_neon
#define QE_QS16_ADDC addc_neon
#define QE_QS16_MAX max_neon
#define QE_QS16_SUM sum_neon
#define QE_QS16_OPS_TABLE qe_qs16_ops__neon
#define QE_QS16_OPS_NAME "neon"
#include "qs16/qs16_ops_impl.h"

/* ---- depthwise ---------------------------------------------------------------------------- */

/* eq. 5 on 4 int32 sums with per-channel m0 / -sh (vrshlq_s64 is the rounding shift), then
 * + zo and the clamp; the narrowing saturates, which composes with the clamp. */
static inline int32x4_t requant4(int32x4_t acc, int32x4_t m0, int64x2_t nsh_lo,
                                 int64x2_t nsh_hi, int32x4_t zo, int32x4_t qmin,
                                 int32x4_t qmax) {
  const int64x2_t p0 = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m0)), nsh_lo);
  const int64x2_t p1 = vrshlq_s64(vmull_s32(vget_high_s32(acc), vget_high_s32(m0)), nsh_hi);
  const int32x4_t y = vqaddq_s32(vcombine_s32(vqmovn_s64(p0), vqmovn_s64(p1)), zo);
  return vminq_s32(vmaxq_s32(y, qmin), qmax);
}

/* Depthwise, 8 channels per step (eq. 20, then eq. 5), the AVX2 kernel's structure
 * (qs16_ops__avx2.c): channel block outside, pixels inside, so the block's weights and
 * requantization constants are loaded once per call. vmlal_s16 adds x_t w_t of 4 channels
 * into int32 (the tap sum is exact: 64 taps x 32768 x 127 < 2^28; with the bias it is
 * bounded by eq. 21 on the int32 path). The int64 path keeps the SIMD tap sums and adds the
 * int64 bias per output before qe_qs16_requant64. The last c % 8 channels run the plain C
 * of the impl (dw_channels), so no load passes c. */
static inline __attribute__((always_inline)) void dw_row(
    size_t c, size_t pixels, const size_t taps, const int16_t* const* ind, const int16_t* w,
    const int64_t* bias, const int32_t* m0, const int32_t* sh, int acc64, void* y,
    const qe_qs16_params* p) {
  const size_t esize = p->out8 ? 1 : 2, cfull = c & ~(size_t)7;
  const int32x4_t zo = vdupq_n_s32(p->zo);
  const int32x4_t qmin = vdupq_n_s32(p->qmin), qmax = vdupq_n_s32(p->qmax);
  for (size_t c0 = 0; c0 < cfull; c0 += 8) {
    int16x8_t wt[QE_QS16_DW_MAX_TAPS];
    for (size_t t = 0; t < taps; t++) wt[t] = vld1q_s16(w + t * c + c0);
    const int32x4_t m0a = vld1q_s32(m0 + c0), m0b = vld1q_s32(m0 + c0 + 4);
    const int32x4_t sha = vnegq_s32(vld1q_s32(sh + c0)), shb = vnegq_s32(vld1q_s32(sh + c0 + 4));
    const int64x2_t n0 = vmovl_s32(vget_low_s32(sha)), n1 = vmovl_s32(vget_high_s32(sha));
    const int64x2_t n2 = vmovl_s32(vget_low_s32(shb)), n3 = vmovl_s32(vget_high_s32(shb));
    int32_t b32[8] = {0};
    if (!acc64) /* eq. 21 holds: the bias fits in int32 */
      for (size_t j = 0; j < 8; j++) b32[j] = (int32_t)bias[c0 + j];
    const int32x4_t b0 = vld1q_s32(b32), b1 = vld1q_s32(b32 + 4);
    for (size_t px = 0; px < pixels; px++) {
      const int16_t* const* ip = ind + px * taps;
      int32x4_t lo = b0, hi = b1;
      for (size_t t = 0; t < taps; t++) {
        const int16x8_t x = vld1q_s16(ip[t] + c0);
        lo = vmlal_s16(lo, vget_low_s16(x), vget_low_s16(wt[t]));
        hi = vmlal_s16(hi, vget_high_s16(x), vget_high_s16(wt[t]));
      }
      uint8_t* out = (uint8_t*)y + (px * c + c0) * esize;
      if (!acc64) {
        const int16x8_t y16 = vcombine_s16(vmovn_s32(requant4(lo, m0a, n0, n1, zo, qmin, qmax)),
                                           vmovn_s32(requant4(hi, m0b, n2, n3, zo, qmin, qmax)));
        if (p->out8)
          vst1_s8((int8_t*)out, vmovn_s16(y16));
        else
          vst1q_s16((int16_t*)out, y16);
      } else {
        int32_t sums[8];
        vst1q_s32(sums, lo);
        vst1q_s32(sums + 4, hi);
        qe_qs16_store_sums64(out, sums, 8, bias + c0, m0 + c0, sh + c0, p);
      }
    }
  }
  if (cfull < c)
    for (size_t px = 0; px < pixels; px++)
      dw_channels(cfull, c, c, taps, ind + px * taps, w, bias, m0, sh, acc64,
                  (uint8_t*)y + px * c * esize, p);
}

static void dwconv_row_neon(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                            const int16_t* w, const int64_t* bias, const int32_t* m0,
                            const int32_t* sh, int acc64, void* y, const qe_qs16_params* p) {
  if (taps == 9) /* 3x3: the tap count known, weights stay in registers */
    dw_row(c, pixels, 9, ind, w, bias, m0, sh, acc64, y, p);
  else
    dw_row(c, pixels, taps, ind, w, bias, m0, sh, acc64, y, p);
}

/* ---- add (eq. 23 as eq. 28), pooling ------------------------------------------------------ */

/* eq. 28 on 4 outputs: vmlal_n_s16 adds a ka[i] (and b kb[i]) into the digit sum, vsraq
 * carries t >> 14 into the next digit's constant. */
static inline __attribute__((always_inline)) int32x4_t add4(int16x4_t a, int16x4_t b,
                                                            int has_b,
                                                            const qe_qs16_add_digits* d,
                                                            const int32x4_t* c, int32x4_t f,
                                                            int32x4_t zo) {
  int32x4_t t = vmlal_n_s16(c[0], a, d->ka[0]);
  if (has_b) t = vmlal_n_s16(t, b, d->kb[0]);
  for (int i = 1; i < 4; i++) {
    t = vmlal_n_s16(vsraq_n_s32(c[i], t, 14), a, d->ka[i]);
    if (has_b) t = vmlal_n_s16(t, b, d->kb[i]);
  }
  return vaddq_s32(vshlq_s32(t, f), zo); /* f = -shift: arithmetic shift right */
}

static inline __attribute__((always_inline)) int16x8_t add8(int16x8_t a, int16x8_t b,
                                                            int has_b,
                                                            const qe_qs16_add_digits* d,
                                                            const int32x4_t* c, int32x4_t f,
                                                            int32x4_t zo, int16x8_t lo,
                                                            int16x8_t hi) {
  const int32x4_t t0 = add4(vget_low_s16(a), vget_low_s16(b), has_b, d, c, f, zo);
  const int32x4_t t1 = add4(vget_high_s16(a), vget_high_s16(b), has_b, d, c, f, zo);
  /* vqmovn saturates to int16, so clamping after it equals clamping before */
  const int16x8_t y = vcombine_s16(vqmovn_s32(t0), vqmovn_s32(t1));
  return vminq_s16(vmaxq_s16(y, lo), hi);
}

static inline __attribute__((always_inline)) void add_rows(size_t n, const int16_t* a,
                                                           const int16_t* b, int has_b,
                                                           int16_t* y,
                                                           const qe_qs16_add_digits* d,
                                                           const qe_qs16_add_params* p) {
  int32x4_t c[4];
  for (int i = 0; i < 4; i++) c[i] = vdupq_n_s32(d->c[i]);
  const int32x4_t f = vdupq_n_s32(-d->f), zo = vdupq_n_s32(p->zo);
  const int16x8_t lo = vdupq_n_s16((int16_t)p->qmin), hi = vdupq_n_s16((int16_t)p->qmax);
  const int16x8_t zero = vdupq_n_s16(0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    vst1q_s16(y + i, add8(vld1q_s16(a + i), has_b ? vld1q_s16(b + i) : zero, has_b, d, c, f,
                          zo, lo, hi));
  if (i < n) { /* tail through zero-padded copies: no access past n */
    int16_t ab[8] = {0}, bb[8] = {0}, yb[8];
    memcpy(ab, a + i, (n - i) * 2);
    if (has_b) memcpy(bb, b + i, (n - i) * 2);
    vst1q_s16(yb, add8(vld1q_s16(ab), vld1q_s16(bb), has_b, d, c, f, zo, lo, hi));
    memcpy(y + i, yb, (n - i) * 2);
  }
}

static void add_neon(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                     const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, p->kb, p->bias, p->m0, p->sh, &d))
    add_rows(n, a, b, 1, y, &d, p);
  else
    add_plain(n, a, b, y, p);
}

/* b one value: b kb + bias is the constant of eq. 28, and the b terms are skipped. */
static void addc_neon(size_t n, const int16_t* a, int16_t b, int16_t* y,
                      const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, 0, p->bias + (int64_t)b * p->kb, p->m0, p->sh, &d))
    add_rows(n, a, NULL, 0, y, &d, p);
  else
    addc_plain(n, a, b, y, p);
}

/* eq. 14 over k rows, 8 channels per step; the last c % 8 in plain C. */
static void max_neon(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
                     int32_t qmax) {
  const int16x8_t lo = vdupq_n_s16((int16_t)qmin), hi = vdupq_n_s16((int16_t)qmax);
  size_t j = 0;
  for (; j + 8 <= c; j += 8) {
    int16x8_t v = vld1q_s16(rows[0] + j);
    for (size_t t = 1; t < k; t++) v = vmaxq_s16(v, vld1q_s16(rows[t] + j));
    vst1q_s16(y + j, vminq_s16(vmaxq_s16(v, lo), hi));
  }
  max_plain(j, c, k, rows, y, qmin, qmax);
}

/* acc += sum over k rows, 8 channels per step: the rows are summed in int32 (exact for up
 * to 65536 rows: |sum| <= 2^31), then added into the int64 accumulators; the last c % 8
 * in plain C. */
static void sum_neon(size_t c, size_t k, const int16_t* const* rows, int64_t* acc) {
  const size_t cfull = c & ~(size_t)7;
  for (size_t t0 = 0; t0 < k; t0 += 65536) {
    const size_t t1 = QE_MIN(k, t0 + 65536);
    for (size_t j = 0; j < cfull; j += 8) {
      int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
      for (size_t t = t0; t < t1; t++) {
        const int16x8_t x = vld1q_s16(rows[t] + j);
        s0 = vaddw_s16(s0, vget_low_s16(x));
        s1 = vaddw_s16(s1, vget_high_s16(x));
      }
      int64_t* q = acc + j;
      vst1q_s64(q, vaddw_s32(vld1q_s64(q), vget_low_s32(s0)));
      vst1q_s64(q + 2, vaddw_s32(vld1q_s64(q + 2), vget_high_s32(s0)));
      vst1q_s64(q + 4, vaddw_s32(vld1q_s64(q + 4), vget_low_s32(s1)));
      vst1q_s64(q + 6, vaddw_s32(vld1q_s64(q + 6), vget_high_s32(s1)));
    }
  }
  sum_plain(cfull, c, k, rows, acc);
}
