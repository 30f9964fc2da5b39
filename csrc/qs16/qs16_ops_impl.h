/* The 16x8 operator ukernels in plain C, written so that gcc/clang vectorize their inner
 * channel loops; included once per variant file (qs16_ops_<isa>.c), each compiled with
 * only its ISA's flags, so each variant is the same integer code in that ISA's vectors.
 * Integer arithmetic is exact, so every variant is bit-identical by construction; the
 * float boundary (quantize/dequantize) is one IEEE operation per step with contraction
 * off (-std=c11), exactly as the int8 kernels of docs/QUANTIZATION.md section 11.
 * Defines the table QE_QS16_OPS_TABLE named QE_QS16_OPS_NAME. No intrinsics here. */
#include <string.h>

#include "qs16/qs16_ops.h"

#define QS16_CB 64 /* channels per block: accumulators stay in registers / L1 */

/* eq. 5 on a block of int32 sums with per-channel m0/sh. A variant may supply its own
 * (QE_QS16_REQUANT_BLOCK, same arithmetic in intrinsics): compilers do not vectorize the
 * 64-bit per-lane shifts of this portable form. */
#ifdef QE_QS16_REQUANT_BLOCK
#define requant_block QE_QS16_REQUANT_BLOCK
#else
static void requant_block(size_t cb, const int32_t* acc, const int32_t* m0, const int32_t* sh,
                          int32_t* out, const qe_qs16_params* p) {
  const int64_t lo = (int64_t)p->qmin - p->zo, hi = (int64_t)p->qmax - p->zo;
  for (size_t j = 0; j < cb; j++) {
    int64_t v = ((int64_t)acc[j] * m0[j] + ((int64_t)1 << (sh[j] - 1))) >> sh[j];
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[j] = (int32_t)v + p->zo;
  }
}
#endif

/* Depthwise, channels [c0, c1) of one output pixel (eq. 20 per channel over the taps, then
 * eq. 5): rows[t] is the input pixel of tap t (or a row of pad_value), w is [taps][c].
 * The int32 path runs in three loops (sums, requantization, narrowing store) that each
 * vectorize. Also the channel tail of the SIMD variants' dwconv_row. */
static inline void dw_channels(size_t c0, size_t c1, size_t c, size_t taps,
                               const int16_t* const* rows, const int16_t* w,
                               const int64_t* bias, const int32_t* m0, const int32_t* sh,
                               int acc64, void* y, const qe_qs16_params* p) {
  for (; c0 < c1; c0 += QS16_CB) {
    const size_t cb = QE_MIN((size_t)QS16_CB, c1 - c0);
    if (!acc64) {
      int32_t acc[QS16_CB], out[QS16_CB];
      for (size_t j = 0; j < cb; j++) acc[j] = (int32_t)bias[c0 + j];
      for (size_t t = 0; t < taps; t++) {
        const int16_t* xr = rows[t] + c0;
        const int16_t* wr = w + t * c + c0;
        for (size_t j = 0; j < cb; j++) acc[j] += (int32_t)xr[j] * wr[j];
      }
      requant_block(cb, acc, m0 + c0, sh + c0, out, p);
      if (p->out8) {
        int8_t* y8 = (int8_t*)y + c0;
        for (size_t j = 0; j < cb; j++) y8[j] = (int8_t)out[j];
      } else {
        int16_t* y16 = (int16_t*)y + c0;
        for (size_t j = 0; j < cb; j++) y16[j] = (int16_t)out[j];
      }
    } else {
      int64_t acc[QS16_CB];
      for (size_t j = 0; j < cb; j++) acc[j] = bias[c0 + j];
      for (size_t t = 0; t < taps; t++) {
        const int16_t* xr = rows[t] + c0;
        const int16_t* wr = w + t * c + c0;
        for (size_t j = 0; j < cb; j++) acc[j] += (int32_t)xr[j] * wr[j];
      }
      for (size_t j = 0; j < cb; j++)
        qe_qs16_store1(y, c0 + j, qe_qs16_requant64(acc[j], m0[c0 + j], sh[c0 + j], p->zo,
                                                    p->qmin, p->qmax), p->out8);
    }
  }
}

/* A variant may supply dwconv_row in intrinsics (QE_QS16_DWCONV_ROW, defined after this
 * file so that it can use dw_channels for channel tails). */
#ifdef QE_QS16_DWCONV_ROW
#define dwconv_row QE_QS16_DWCONV_ROW
#else
static void dwconv_row(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                       const int16_t* w, const int64_t* bias, const int32_t* m0,
                       const int32_t* sh, int acc64, void* y, const qe_qs16_params* p) {
  const size_t esize = p->out8 ? 1 : 2;
  for (size_t px = 0; px < pixels; px++)
    dw_channels(0, c, c, taps, ind + px * taps, w, bias, m0, sh, acc64,
                (uint8_t*)y + px * c * esize, p);
}
#endif

/* eq. 23: exact int64 sum, then eq. 5 for int64. Also the SIMD variants' fallback outside
 * the domain of eq. 28 (qe_qs16_add_digits_init). */
static void add_plain(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                      const qe_qs16_add_params* p) {
  for (size_t i = 0; i < n; i++) {
    const int64_t acc = (int64_t)a[i] * p->ka + (int64_t)b[i] * p->kb + p->bias;
    y[i] = (int16_t)qe_qs16_requant64(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
  }
}

/* eq. 23 with b one value: its term b kb + bias is formed once. */
static void addc_plain(size_t n, const int16_t* a, int16_t b, int16_t* y,
                       const qe_qs16_add_params* p) {
  const int64_t cb = (int64_t)b * p->kb + p->bias;
  for (size_t i = 0; i < n; i++)
    y[i] = (int16_t)qe_qs16_requant64((int64_t)a[i] * p->ka + cb, p->m0, p->sh, p->zo,
                                      p->qmin, p->qmax);
}

/* A variant may supply add / addc in intrinsics (QE_QS16_ADD, QE_QS16_ADDC). */
#ifdef QE_QS16_ADD
#define vadd QE_QS16_ADD
#define vaddc QE_QS16_ADDC
#else
#define vadd add_plain
#define vaddc addc_plain
#endif

/* y = clamp(max over k rows, qmin, qmax) (eq. 14); rows may include y itself. Channels
 * [j0, c): also the SIMD variants' channel tail. */
static inline void max_plain(size_t j0, size_t c, size_t k, const int16_t* const* rows,
                             int16_t* y, int32_t qmin, int32_t qmax) {
  for (size_t j = j0; j < c; j++) {
    int16_t m = rows[0][j];
    for (size_t t = 1; t < k; t++) m = rows[t][j] > m ? rows[t][j] : m;
    y[j] = (int16_t)(m < qmin ? qmin : m > qmax ? qmax : m);
  }
}

/* acc[j] += sum over k rows, channels [j0, c) (exact: |x| <= 2^15, int64). */
static inline void sum_plain(size_t j0, size_t c, size_t k, const int16_t* const* rows,
                             int64_t* acc) {
  for (size_t t = 0; t < k; t++) {
    const int16_t* r = rows[t];
    for (size_t j = j0; j < c; j++) acc[j] += r[j];
  }
}

/* A variant may supply max / sum in intrinsics (QE_QS16_MAX, QE_QS16_SUM). */
#ifdef QE_QS16_MAX
#define vmax QE_QS16_MAX
#else
static void vmax(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
                 int32_t qmax) {
  max_plain(0, c, k, rows, y, qmin, qmax);
}
#endif
#ifdef QE_QS16_SUM
#define vsum QE_QS16_SUM
#else
static void vsum(size_t c, size_t k, const int16_t* const* rows, int64_t* acc) {
  sum_plain(0, c, k, rows, acc);
}
#endif

static void vrequant64(size_t c, const int64_t* acc, int64_t bias, int32_t m0, int32_t sh,
                       int32_t zo, int32_t qmin, int32_t qmax, int16_t* y) {
  for (size_t j = 0; j < c; j++) y[j] = (int16_t)qe_qs16_requant64(acc[j] + bias, m0, sh, zo, qmin, qmax);
}

/* eq. 17 with the int16 range. */
static void quantize(size_t n, const float* x, int16_t* y, const qe_f32_qs8_params* p) {
  const float lo = (float)(-32768 - p->zp), hi = (float)(32767 - p->zp);
  for (size_t i = 0; i < n; i++) {
    float u = x[i] * p->inv_scale;
    u = u + 0.5f;
    u = u != u ? 0.0f : u;
    u = u < lo ? lo : u > hi ? hi : u;
    /* floor without libm: truncate (exact, |u| <= 65535), one down for negative fractions */
    const int32_t t = (int32_t)u;
    y[i] = (int16_t)(t - ((float)t > u) + p->zp);
  }
}

/* eq. 18. */
static void dequantize(size_t n, const int16_t* x, float* y, const qe_qs8_f32_params* p) {
  for (size_t i = 0; i < n; i++) y[i] = p->scale * (float)((int32_t)x[i] - p->zp);
}

/* eq. 12 without a table: eq. 5 on x - zi (|x - zi| < 2^17, int32 exact). */
static void requantize(size_t n, const void* x, int in16, void* y, int out16,
                       const qe_qs16_requant_params* p) {
#define RQ(TI, TO)                                                                         \
  for (size_t i = 0; i < n; i++)                                                           \
    ((TO*)y)[i] = (TO)qe_requant((int32_t)((const TI*)x)[i] - p->zi, p->m0, p->sh, p->zo, \
                                 p->qmin, p->qmax);
  if (in16 && out16) { RQ(int16_t, int16_t) }
  else if (in16) { RQ(int16_t, int8_t) }
  else if (out16) { RQ(int8_t, int16_t) }
  else { RQ(int8_t, int8_t) }
#undef RQ
}

const qe_qs16_ops QE_QS16_OPS_TABLE = {QE_QS16_OPS_NAME, dwconv_row, vadd, vaddc, vmax, vsum,
                                       vrequant64, quantize, dequantize, requantize};
