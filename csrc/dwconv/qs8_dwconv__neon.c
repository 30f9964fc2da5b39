/* NEON depthwise microkernels (AArch64 and ARMv7 NEON), 16 channels per step:
 * qe_qs8_dwconv_minmax_<taps>_16c__neon. Also used by the neondot variant.
 *
 * Two taps at a time: vmull_s8 + vmlal_s8 give x_t*w_t + x_t+1*w_t+1 in int16 (exact:
 * |sum| <= 2 * 128 * 127 < 2^15), vaddw_s16 widens into the int32 accumulators (eq. 3),
 * channel order stays natural. Requantization is eq. 5: vmull_s32 then vrshlq_s64 by -sh
 * (a rounding shift, i.e. + 2^(sh-1) then >>), on an accumulator clamped to [amin, amax]
 * (dwconv.h), so vmovn_s64 keeps the exact result. */
#include <arm_neon.h>
#include <string.h>

#include "dwconv/dwconv.h"

#define CB 16

static inline int8x16_t load_x(const int8_t* p, size_t nc) {
  if (nc == CB) return vld1q_s8(p);
  int8_t tmp[CB] = {0};
  memcpy(tmp, p, nc); /* never read past the channels of the last input pixel */
  return vld1q_s8(tmp);
}

typedef struct {
  int32x4_t bias, amin, amax, m0;
  int64x2_t nsh_lo, nsh_hi;
} rq4;

static inline void rq_setup(rq4* q, const int32_t* packed, size_t cpad, size_t c) {
  q->bias = vld1q_s32(packed + c);
  q->m0 = vld1q_s32(packed + cpad + c);
  const int32x4_t nsh = vnegq_s32(vld1q_s32(packed + 2 * cpad + c));
  q->nsh_lo = vmovl_s32(vget_low_s32(nsh));
  q->nsh_hi = vmovl_s32(vget_high_s32(nsh));
  q->amin = vld1q_s32(packed + 3 * cpad + c);
  q->amax = vld1q_s32(packed + 4 * cpad + c);
}

static inline int32x4_t requant(int32x4_t acc, const rq4* q, int32x4_t zo) {
  acc = vminq_s32(vmaxq_s32(acc, q->amin), q->amax);
  int64x2_t lo = vmull_s32(vget_low_s32(acc), vget_low_s32(q->m0));
  int64x2_t hi = vmull_s32(vget_high_s32(acc), vget_high_s32(q->m0));
  lo = vrshlq_s64(lo, q->nsh_lo); /* eq. 5 */
  hi = vrshlq_s64(hi, q->nsh_hi);
  return vaddq_s32(vcombine_s32(vmovn_s64(lo), vmovn_s64(hi)), zo);
}

/* One channel block over the row's pixels; nc == CB is passed as a literal for full
 * blocks, so the tail copies fold away there. */
static inline __attribute__((always_inline)) void dw_pixels(
    size_t c0, size_t nc, size_t pixels, const size_t taps, size_t step,
    const int8_t* const* ind, const int8_t* wc, size_t cpad, const rq4* q, int32x4_t zo,
    int8_t* out, size_t out_stride, int8x16_t lo, int8x16_t hi) {
  for (size_t px = 0; px < pixels; px++) {
    const int8_t* const* ip = ind + px * step;
    int32x4_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias;
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      const int8x16_t xa = load_x(ip[t] + c0, nc), xb = load_x(ip[t + 1] + c0, nc);
      const int8x16_t wa = vld1q_s8(wc + t * cpad), wb = vld1q_s8(wc + (t + 1) * cpad);
      int16x8_t pl = vmull_s8(vget_low_s8(xa), vget_low_s8(wa));
      int16x8_t ph = vmull_s8(vget_high_s8(xa), vget_high_s8(wa));
      pl = vmlal_s8(pl, vget_low_s8(xb), vget_low_s8(wb));
      ph = vmlal_s8(ph, vget_high_s8(xb), vget_high_s8(wb));
      a0 = vaddw_s16(a0, vget_low_s16(pl));
      a1 = vaddw_s16(a1, vget_high_s16(pl));
      a2 = vaddw_s16(a2, vget_low_s16(ph));
      a3 = vaddw_s16(a3, vget_high_s16(ph));
    }
    if (t < taps) {
      const int8x16_t xa = load_x(ip[t] + c0, nc), wa = vld1q_s8(wc + t * cpad);
      const int16x8_t pl = vmull_s8(vget_low_s8(xa), vget_low_s8(wa));
      const int16x8_t ph = vmull_s8(vget_high_s8(xa), vget_high_s8(wa));
      a0 = vaddw_s16(a0, vget_low_s16(pl));
      a1 = vaddw_s16(a1, vget_high_s16(pl));
      a2 = vaddw_s16(a2, vget_low_s16(ph));
      a3 = vaddw_s16(a3, vget_high_s16(ph));
    }
    const int16x8_t s0 = vcombine_s16(vqmovn_s32(requant(a0, &q[0], zo)),
                                      vqmovn_s32(requant(a1, &q[1], zo)));
    const int16x8_t s1 = vcombine_s16(vqmovn_s32(requant(a2, &q[2], zo)),
                                      vqmovn_s32(requant(a3, &q[3], zo)));
    int8x16_t r = vcombine_s8(vqmovn_s16(s0), vqmovn_s16(s1));
    r = vminq_s8(vmaxq_s8(r, lo), hi);
    int8_t* o = out + px * out_stride + c0;
    if (nc == CB) {
      vst1q_s8(o, r);
    } else {
      int8_t tmp[CB];
      vst1q_s8(tmp, r);
      memcpy(o, tmp, nc);
    }
  }
}

static inline __attribute__((always_inline)) void dw_rows(
    size_t channels, size_t pixels, const size_t taps, size_t step, const int8_t* const* ind,
    const void* packed, size_t cpad, int8_t* out, size_t out_stride, const qe_dwconv_params* p) {
  const int32_t* pk = (const int32_t*)packed;
  const int8_t* w = (const int8_t*)(pk + 5 * cpad);
  const int8x16_t lo = vdupq_n_s8((int8_t)p->qmin), hi = vdupq_n_s8((int8_t)p->qmax);
  const int32x4_t zo = vdupq_n_s32(p->zo);
  for (size_t c0 = 0; c0 < channels; c0 += CB) {
    const size_t nc = QE_MIN((size_t)CB, channels - c0);
    rq4 q[4];
    for (int i = 0; i < 4; i++) rq_setup(&q[i], pk, cpad, c0 + 4 * i);
    if (nc == CB)
      dw_pixels(c0, CB, pixels, taps, step, ind, w + c0, cpad, q, zo, out, out_stride, lo, hi);
    else
      dw_pixels(c0, nc, pixels, taps, step, ind, w + c0, cpad, q, zo, out, out_stride, lo, hi);
  }
}

static void dw_any(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  dw_rows(channels, pixels, taps, step, ind, packed, cpad, out, out_stride, p);
}

static void dw_3x3(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  dw_rows(channels, pixels, 9, step, ind, packed, cpad, out, out_stride, p);
}

static void dw_5x5(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  dw_rows(channels, pixels, 25, step, ind, packed, cpad, out, out_stride, p);
}

const qe_dwconv_kernel qe_dwconv_kernels__neon[] = {
    {"qe_qs8_dwconv_minmax_3x3_16c__neon", 9, dw_3x3},
    {"qe_qs8_dwconv_minmax_5x5_16c__neon", 25, dw_5x5},
    {"qe_qs8_dwconv_minmax_16c__neon", 0, dw_any},
    {NULL, 0, NULL},
};
