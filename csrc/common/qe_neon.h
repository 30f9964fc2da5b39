/* NEON helpers shared by the *__neon.c and *__neondot.c variant files (ARMv7 NEON and
 * AArch64). Include it ONLY from those files: portable code must stay ISA-neutral. */
#ifndef QE_NEON_H
#define QE_NEON_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

/* {sum(a), sum(b), sum(c), sum(d)}: horizontal sums of four vectors, wrapping like eq. 3. */
static inline int32x4_t qe_neon_hsum4x4_s32(int32x4_t a, int32x4_t b, int32x4_t c,
                                            int32x4_t d) {
#if defined(__aarch64__)
  return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
#else /* ARMv7 has no vpaddq: fold each vector to two lanes, then pairwise add */
  const int32x2_t a2 = vadd_s32(vget_low_s32(a), vget_high_s32(a));
  const int32x2_t b2 = vadd_s32(vget_low_s32(b), vget_high_s32(b));
  const int32x2_t c2 = vadd_s32(vget_low_s32(c), vget_high_s32(c));
  const int32x2_t d2 = vadd_s32(vget_low_s32(d), vget_high_s32(d));
  return vcombine_s32(vpadd_s32(a2, b2), vpadd_s32(c2, d2));
#endif
}

/* -sh per 64-bit lane, for vrshlq_s64 (it reads the shift from each lane's low byte). */
static inline int64x2_t qe_neon_neg_shift(int32x2_t sh) { return vmovl_s32(vneg_s32(sh)); }

/* Eq. 5 up to the zero point: ((int64)acc * m0 + 2^(sh-1)) >> sh per lane, saturated to
 * int32. vmull_s32 is the exact 32x32->64 product; vrshlq_s64 by -sh is the rounding
 * shift (x + 2^(sh-1)) >> sh, computed by the hardware without intermediate overflow (and
 * |x| < 2^62 here anyway). Saturating to int32 keeps the order of values, so the later
 * clamp to [qmin, qmax] gives exactly the scalar result. */
static inline int32x4_t qe_neon_requant_s32(int32x4_t acc, int32x4_t m0, int64x2_t nsh_lo,
                                            int64x2_t nsh_hi) {
  int64x2_t lo = vmull_s32(vget_low_s32(acc), vget_low_s32(m0));
  int64x2_t hi = vmull_s32(vget_high_s32(acc), vget_high_s32(m0));
  lo = vrshlq_s64(lo, nsh_lo);
  hi = vrshlq_s64(hi, nsh_hi);
  return vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
}

/* + zo, then int32 -> int8 for two vectors of four: saturating steps keep the order of
 * values, and [qmin, qmax] lies inside int8, so the final clamp is eq. 5's clamp. */
static inline int8x8_t qe_neon_output_s8(int32x4_t lo, int32x4_t hi, int32x4_t zo,
                                         int8x8_t qmin, int8x8_t qmax) {
  const int16x8_t s16 = vcombine_s16(vqmovn_s32(vqaddq_s32(lo, zo)),
                                     vqmovn_s32(vqaddq_s32(hi, zo)));
  return vmin_s8(vmax_s8(vqmovn_s16(s16), qmin), qmax);
}

/* Stores the first n (<= 8) bytes of v to unaligned memory. */
static inline void qe_neon_store_s8(int8_t* dst, int8x8_t v, size_t n) {
  if (n == 8) {
    vst1_s8(dst, v);
    return;
  }
  int8_t tmp[8];
  vst1_s8(tmp, v);
  for (size_t i = 0; i < n; i++) dst[i] = tmp[i];
}

#endif
