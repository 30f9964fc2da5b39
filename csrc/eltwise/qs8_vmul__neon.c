/* eq. 10 + eq. 5 with NEON, 16 outputs per step: (a - za)(b - zb) in int16 lanes widened by
 * the multiply (vmull_s16: |a - za|, |b - zb| <= 255). */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__neon.h"

static inline void widen(int8x16_t v, int16x8_t z, int16x8_t out[2]) {
  out[0] = vsubq_s16(vmovl_s8(vget_low_s8(v)), z);
  out[1] = vsubq_s16(vmovl_s8(vget_high_s8(v)), z);
}

/* b == NULL: every b is the value bc. */
static void vmul(size_t n, const int8_t* a, const int8_t* b, int32_t bc, int8_t* y,
                 const qe_qs8_mul_params* p) {
  const qe_requant_neon rq = qe_requant_neon_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const int16x8_t za = vdupq_n_s16((int16_t)p->za), zb = vdupq_n_s16((int16_t)p->zb);
  const int16x8_t vbc = vdupq_n_s16((int16_t)(bc - p->zb));
  int8_t abuf[16], bbuf[16], ybuf[16];
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const int8_t *pa = a, *pb = b;
    if (len < 16) {
      memset(abuf, 0, 16), memset(bbuf, 0, 16);
      memcpy(abuf, a, len);
      if (b) memcpy(bbuf, b, len);
      pa = abuf, pb = b ? bbuf : NULL;
    }
    int16x8_t va[2], vb[2] = {vbc, vbc};
    widen(vld1q_s8(pa), za, va);
    if (pb) widen(vld1q_s8(pb), zb, vb);
    const int32x4_t acc[4] = {vmull_s16(vget_low_s16(va[0]), vget_low_s16(vb[0])),
                              vmull_s16(vget_high_s16(va[0]), vget_high_s16(vb[0])),
                              vmull_s16(vget_low_s16(va[1]), vget_low_s16(vb[1])),
                              vmull_s16(vget_high_s16(va[1]), vget_high_s16(vb[1]))};
    const int8x16_t out =
        qe_narrow_neon(qe_requant_neon_4(acc[0], &rq), qe_requant_neon_4(acc[1], &rq),
                       qe_requant_neon_4(acc[2], &rq), qe_requant_neon_4(acc[3], &rq), &rq);
    if (len < 16) {
      vst1q_s8(ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      vst1q_s8(y, out);
    }
    a += len, y += len, n -= len;
    if (b) b += len;
  }
}

void qe_qs8_vmul_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_mul_params* p) {
  vmul(n, a, b, 0, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_mul_params* p) {
  vmul(n, a, NULL, *b, y, p);
}
