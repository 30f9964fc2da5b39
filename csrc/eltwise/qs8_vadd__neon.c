/* eq. 9 + eq. 5 with NEON, 16 outputs per step. */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__neon.h"

/* b == NULL: b is the broadcast value folded into bias. */
static void vadd(size_t n, const int8_t* a, const int8_t* b, int32_t bias, int8_t* y,
                 const qe_qs8_add_params* p) {
  const qe_requant_neon rq = qe_requant_neon_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const int32x4_t vbias = vdupq_n_s32(bias);
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
    const int8x16_t va = vld1q_s8(pa);
    const int16x8_t a0 = vmovl_s8(vget_low_s8(va)), a1 = vmovl_s8(vget_high_s8(va));
    int32x4_t acc[4] = {vmlaq_n_s32(vbias, vmovl_s16(vget_low_s16(a0)), p->ka),
                        vmlaq_n_s32(vbias, vmovl_s16(vget_high_s16(a0)), p->ka),
                        vmlaq_n_s32(vbias, vmovl_s16(vget_low_s16(a1)), p->ka),
                        vmlaq_n_s32(vbias, vmovl_s16(vget_high_s16(a1)), p->ka)};
    if (pb) {
      const int8x16_t vb = vld1q_s8(pb);
      const int16x8_t b0 = vmovl_s8(vget_low_s8(vb)), b1 = vmovl_s8(vget_high_s8(vb));
      acc[0] = vmlaq_n_s32(acc[0], vmovl_s16(vget_low_s16(b0)), p->kb);
      acc[1] = vmlaq_n_s32(acc[1], vmovl_s16(vget_high_s16(b0)), p->kb);
      acc[2] = vmlaq_n_s32(acc[2], vmovl_s16(vget_low_s16(b1)), p->kb);
      acc[3] = vmlaq_n_s32(acc[3], vmovl_s16(vget_high_s16(b1)), p->kb);
    }
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

void qe_qs8_vadd_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_add_params* p) {
  vadd(n, a, b, p->bias, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__neon(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_add_params* p) {
  vadd(n, a, NULL, p->bias + (int32_t)*b * p->kb, y, p);
}
