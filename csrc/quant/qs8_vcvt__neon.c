/* eq. 17 (quantize) and eq. 18 (dequantize) with NEON: the scalar float32 operations in
 * the same order, 4 lanes at a time. -std=c11 keeps gcc from fusing vmulq/vaddq into FMLA
 * (arm_neon.h implements them as plain vector arithmetic). floor() of a clamped value
 * (|u| <= 255) is truncation corrected by one where truncation went up, since ARMv7 NEON
 * has no round-toward-minus-infinity. ARMv7 NEON flushes subnormals to zero; that cannot
 * change a result here (a subnormal t gives u = 0.5 either way, and the Python layer only
 * accepts normal float32 scales). */
#include "quant/quant.h"

#include <arm_neon.h>
#include <string.h>

static inline int32x4_t q4(float32x4_t x, float32x4_t inv, float32x4_t half, float32x4_t lo,
                           float32x4_t hi) {
  float32x4_t u = vaddq_f32(vmulq_f32(x, inv), half);
  u = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(u), vceqq_f32(u, u))); /* NaN -> 0 */
  u = vminq_f32(vmaxq_f32(u, lo), hi);
  const int32x4_t t = vcvtq_s32_f32(u); /* toward zero */
  return vaddq_s32(t, vreinterpretq_s32_u32(vcgtq_f32(vcvtq_f32_s32(t), u)));
}

void qe_f32_qs8_vcvt_ukernel__neon(size_t n, const float* x, int8_t* y,
                                   const qe_f32_qs8_params* p) {
  const float32x4_t inv = vdupq_n_f32(p->inv_scale), half = vdupq_n_f32(0.5f);
  const float32x4_t lo = vdupq_n_f32((float)(-128 - p->zp)), hi = vdupq_n_f32((float)(127 - p->zp));
  const int32x4_t zp = vdupq_n_s32(p->zp);
  float xbuf[16];
  int8_t ybuf[16];
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const float* src = x;
    if (len < 16) {
      memset(xbuf, 0, sizeof(xbuf));
      memcpy(xbuf, x, len * sizeof(float));
      src = xbuf;
    }
    int16x8_t w[2];
    for (int k = 0; k < 2; k++) {
      const int32x4_t r0 = vaddq_s32(q4(vld1q_f32(src + 8 * k), inv, half, lo, hi), zp);
      const int32x4_t r1 = vaddq_s32(q4(vld1q_f32(src + 8 * k + 4), inv, half, lo, hi), zp);
      w[k] = vcombine_s16(vqmovn_s32(r0), vqmovn_s32(r1));
    }
    const int8x16_t out = vcombine_s8(vqmovn_s16(w[0]), vqmovn_s16(w[1]));
    if (len < 16) {
      vst1q_s8(ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      vst1q_s8(y, out);
    }
    x += len, y += len, n -= len;
  }
}

void qe_qs8_f32_vcvt_ukernel__neon(size_t n, const int8_t* x, float* y,
                                   const qe_qs8_f32_params* p) {
  const float32x4_t scale = vdupq_n_f32(p->scale);
  const int32x4_t zp = vdupq_n_s32(p->zp);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const int16x8_t q = vmovl_s8(vld1_s8(x + i));
    const int32x4_t q0 = vsubq_s32(vmovl_s16(vget_low_s16(q)), zp);
    const int32x4_t q1 = vsubq_s32(vmovl_s16(vget_high_s16(q)), zp);
    vst1q_f32(y + i, vmulq_f32(scale, vcvtq_f32_s32(q0)));
    vst1q_f32(y + i + 4, vmulq_f32(scale, vcvtq_f32_s32(q1)));
  }
  qe_qs8_f32_vcvt_ukernel__scalar(n - i, x + i, y + i, p);
}
