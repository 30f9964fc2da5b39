/* NEON sparse kernels (ARMv7 NEON and ARMv8 AdvSIMD alike): 16 positions per tile, two
 * nonzeros (one packed pair) per step. Each nonzero multiplies 16 int16 positions by its
 * weight with vmlal_lane_s16, widening into int32 accumulators: exact products, wrapping
 * sums (eq. 3). Requantization (eq. 5): vmull_s32 gives the 64-bit product, vrshlq_s64 by
 * -sh is exactly the rounding shift (+2^(sh-1), arithmetic >>), and the saturating
 * narrows keep order, so clamping after them equals clamping before.
 * Both layout changes (A into `at`, results into C) go through a 16 x 16 byte transpose
 * made of vzipq rounds, the same four rounds as the x86 files' unpacks. */
#include <arm_neon.h>
#include <string.h>

#include "sparse/spmm.h"

#define T 16
#define NC 64 /* channels requantized into one tile buffer before the transpose to C */

/* x[r] byte c -> x[c] byte r: interleave 8-, 16-, 32-bit units, then 64-bit halves. */
static inline void tr16x16(uint8x16_t x[16]) {
  uint8x16_t a[8], b[8];
  uint16x8_t cq[4][4];
  uint32x4_t d[2][8];
  for (int p = 0; p < 8; p++) {
    const uint8x16x2_t z = vzipq_u8(x[2 * p], x[2 * p + 1]);
    a[p] = z.val[0], b[p] = z.val[1];
  }
  for (int q = 0; q < 4; q++) {
    const uint16x8x2_t za = vzipq_u16(vreinterpretq_u16_u8(a[2 * q]), vreinterpretq_u16_u8(a[2 * q + 1]));
    const uint16x8x2_t zb = vzipq_u16(vreinterpretq_u16_u8(b[2 * q]), vreinterpretq_u16_u8(b[2 * q + 1]));
    cq[q][0] = za.val[0], cq[q][1] = za.val[1], cq[q][2] = zb.val[0], cq[q][3] = zb.val[1];
  }
  for (int o = 0; o < 2; o++)
    for (int g = 0; g < 4; g++) {
      const uint32x4x2_t z = vzipq_u32(vreinterpretq_u32_u16(cq[2 * o][g]),
                                       vreinterpretq_u32_u16(cq[2 * o + 1][g]));
      d[o][2 * g] = z.val[0], d[o][2 * g + 1] = z.val[1];
    }
  for (int h = 0; h < 8; h++) {
    const uint8x16_t lo = vreinterpretq_u8_u32(d[0][h]), hi = vreinterpretq_u8_u32(d[1][h]);
    x[2 * h] = vcombine_u8(vget_low_u8(lo), vget_low_u8(hi));
    x[2 * h + 1] = vcombine_u8(vget_high_u8(lo), vget_high_u8(hi));
  }
}

/* qe_spmm_transpose_fn: positions [m0, m0 + 32) of A into at, zero past M. */
static void transpose(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                      int16_t* at, size_t at_stride) {
  const size_t mc = QE_MIN((size_t)QE_SPMM_MP, m - m0);
  for (size_t h = 0; h < QE_SPMM_MP; h += 16) {
    const size_t rows = mc > h ? QE_MIN((size_t)16, mc - h) : 0;
    const int8_t* src = a + (m0 + h) * a_stride;
    int16_t* dst = at + m0 + h;
    size_t k0 = 0;
    for (; k0 + 16 <= k; k0 += 16) {
      uint8x16_t x[16];
      for (size_t r = 0; r < 16; r++)
        x[r] = r < rows ? vld1q_u8((const uint8_t*)src + r * a_stride + k0) : vdupq_n_u8(0);
      tr16x16(x);
      for (size_t cc = 0; cc < 16; cc++) {
        const int8x16_t v = vreinterpretq_s8_u8(x[cc]);
        int16_t* d = dst + (k0 + cc) * at_stride;
        vst1q_s16(d, vmovl_s8(vget_low_s8(v)));
        vst1q_s16(d + 8, vmovl_s8(vget_high_s8(v)));
      }
    }
    for (; k0 < k; k0++)
      for (size_t r = 0; r < 16; r++)
        dst[k0 * at_stride + r] = r < rows ? src[r * a_stride + k0] : 0;
  }
}

/* nc channel rows of 16 results (positions m .. m+15) -> first mt positions of C */
static void store_tile(const int8_t* buf, size_t nc, size_t mt, int8_t* c, size_t c_stride) {
  for (size_t g = 0; g < nc; g += 16) {
    const size_t gc = QE_MIN((size_t)16, nc - g);
    uint8x16_t x[16];
    for (size_t r = 0; r < 16; r++)
      x[r] = r < gc ? vld1q_u8((const uint8_t*)buf + (g + r) * 16) : vdupq_n_u8(0);
    tr16x16(x);
    for (size_t i = 0; i < mt; i++) {
      if (gc == 16) {
        vst1q_u8((uint8_t*)c + i * c_stride + g, x[i]);
      } else {
        uint8_t tmp[16];
        vst1q_u8(tmp, x[i]);
        memcpy(c + i * c_stride + g, tmp, gc);
      }
    }
  }
}

static inline int8x16_t requant16(const int32x4_t acc[4], int32_t m0, int32_t sh,
                                  const qe_spmm_params* p) {
  const int32x2_t vm0 = vdup_n_s32(m0);
  const int64x2_t vsh = vdupq_n_s64(-(int64_t)sh);
  const int32x4_t vzo = vdupq_n_s32(p->zo), vmin = vdupq_n_s32(p->qmin);
  const int32x4_t vmax = vdupq_n_s32(p->qmax);
  int16x4_t h[4];
  for (int i = 0; i < 4; i++) {
    const int64x2_t l = vrshlq_s64(vmull_s32(vget_low_s32(acc[i]), vm0), vsh);
    const int64x2_t u = vrshlq_s64(vmull_s32(vget_high_s32(acc[i]), vm0), vsh);
    int32x4_t y = vcombine_s32(vqmovn_s64(l), vqmovn_s64(u));
    y = vminq_s32(vmaxq_s32(vqaddq_s32(y, vzo), vmin), vmax);
    h[i] = vqmovn_s32(y);
  }
  return vcombine_s8(vqmovn_s16(vcombine_s16(h[0], h[1])), vqmovn_s16(vcombine_s16(h[2], h[3])));
}

/* acc[0..3] (positions 0-3, 4-7, 8-11, 12-15) += x0 * wv[la] + x1 * wv[lb] */
#define MAC16(A, WV, LA, LB)                                                      \
  do {                                                                            \
    A[0] = vmlal_lane_s16(A[0], vget_low_s16(x0a), WV, LA);                       \
    A[0] = vmlal_lane_s16(A[0], vget_low_s16(x1a), WV, LB);                       \
    A[1] = vmlal_lane_s16(A[1], vget_high_s16(x0a), WV, LA);                      \
    A[1] = vmlal_lane_s16(A[1], vget_high_s16(x1a), WV, LB);                      \
    A[2] = vmlal_lane_s16(A[2], vget_low_s16(x0b), WV, LA);                       \
    A[2] = vmlal_lane_s16(A[2], vget_low_s16(x1b), WV, LB);                       \
    A[3] = vmlal_lane_s16(A[3], vget_high_s16(x0b), WV, LA);                      \
    A[3] = vmlal_lane_s16(A[3], vget_high_s16(x1b), WV, LB);                      \
  } while (0)

static inline __attribute__((always_inline)) void mm_br(
    const qe_spmm_w* W, const size_t br, size_t r0, size_t r1, const int16_t* at,
    size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
    const qe_spmm_params* p) {
  int8_t buf[NC][T];
  const size_t rows_per_buf = NC / br;
  for (size_t m = mb; m < me; m += T) {
    const size_t mt = QE_MIN((size_t)T, me - m);
    const int16_t* atm = at + m;
    for (size_t rb = r0; rb < r1; rb += rows_per_buf) {
      const size_t re = QE_MIN(r1, rb + rows_per_buf);
      for (size_t r = rb; r < re; r++) {
        int32x4_t acc[4][4];
        for (size_t j = 0; j < br; j++)
          for (int i = 0; i < 4; i++) acc[j][i] = vdupq_n_s32(W->bias[r * br + j]);
        const int32_t* idx = W->pidx + 2 * (size_t)W->pptr[r];
        const int16_t* w = W->pw + (size_t)W->pptr[r] * br * 2;
        for (int32_t q = W->pptr[r]; q < W->pptr[r + 1]; q++, idx += 2, w += 2 * br) {
          const int16_t* row0 = atm + (size_t)idx[0] * at_stride;
          const int16_t* row1 = atm + (size_t)idx[1] * at_stride;
          const int16x8_t x0a = vld1q_s16(row0), x0b = vld1q_s16(row0 + 8);
          const int16x8_t x1a = vld1q_s16(row1), x1b = vld1q_s16(row1 + 8);
          if (br == 1) {
            int32_t pair;
            memcpy(&pair, w, sizeof(pair));
            const int16x4_t wv = vreinterpret_s16_s32(vdup_n_s32(pair));
            MAC16(acc[0], wv, 0, 1);
          } else {
            const int16x8_t wv = vld1q_s16(w); /* {w0a, w0b, w1a, w1b, w2a, ...} */
            const int16x4_t wl = vget_low_s16(wv), wh = vget_high_s16(wv);
            MAC16(acc[0], wl, 0, 1);
            MAC16(acc[1], wl, 2, 3);
            MAC16(acc[2], wh, 0, 1);
            MAC16(acc[3], wh, 2, 3);
          }
        }
        for (size_t j = 0; j < br; j++) {
          const size_t n = r * br + j; /* channels past N are padded with m0 = 0, sh = 1 */
          vst1q_s8(buf[(r - rb) * br + j], requant16(acc[j], W->m0[n], W->sh[n], p));
        }
      }
      const size_t n0 = rb * br, nc = QE_MIN(W->n, re * br) - n0;
      store_tile(&buf[0][0], nc, mt, c + m * c_stride + n0, c_stride);
    }
  }
}

static void mm(const qe_spmm_w* W, size_t r0, size_t r1, const int16_t* at, size_t at_stride,
               size_t mb, size_t me, int8_t* c, size_t c_stride, const qe_spmm_params* p) {
  if (W->br == 1)
    mm_br(W, 1, r0, r1, at, at_stride, mb, me, c, c_stride, p);
  else
    mm_br(W, 4, r0, r1, at, at_stride, mb, me, c, c_stride, p);
}

const qe_spmm_kernel qe_spmm_kernel__neon = {
    {"qe_qs8_spmm_minmax_16x1__neon", "qe_qs8_spmm_minmax_16x4__neon"},
    QE_ISA_NEON, T, mm, qe_spmm_mv__scalar, transpose};
