/* eq. 5 on 4 int32 lanes with NEON (AArch64 and ARMv7), for the *__neon.c files only.
 * vmull_s32 gives the exact 64-bit product and vrshlq_s64 by -sh is the rounding shift of
 * eq. 5 ((x + 2^(sh-1)) >> sh, computed without overflow). The narrowing steps saturate,
 * which composes with the final clamp to [qmin, qmax] into exactly eq. 5's clamp. */
#ifndef QE_REQUANT_NEON_H
#define QE_REQUANT_NEON_H

#include <arm_neon.h>
#include <stdint.h>

typedef struct {
  int32x2_t m0;
  int64x2_t shift; /* -sh */
  int32x4_t zo;
  int8x16_t lo, hi;
} qe_requant_neon;

static inline qe_requant_neon qe_requant_neon_init(int32_t m0, int32_t sh, int32_t zo,
                                                   int32_t qmin, int32_t qmax) {
  qe_requant_neon r;
  r.m0 = vdup_n_s32(m0);
  r.shift = vdupq_n_s64(-(int64_t)sh);
  r.zo = vdupq_n_s32(zo);
  r.lo = vdupq_n_s8((int8_t)qmin);
  r.hi = vdupq_n_s8((int8_t)qmax);
  return r;
}

/* 4 accumulators -> 4 saturated int32 (x + zo); the int8 clamp follows in qe_narrow_neon. */
static inline int32x4_t qe_requant_neon_4(int32x4_t acc, const qe_requant_neon* r) {
  const int64x2_t p0 = vrshlq_s64(vmull_s32(vget_low_s32(acc), r->m0), r->shift);
  const int64x2_t p1 = vrshlq_s64(vmull_s32(vget_high_s32(acc), r->m0), r->shift);
  return vqaddq_s32(vcombine_s32(vqmovn_s64(p0), vqmovn_s64(p1)), r->zo);
}

/* 16 values (4 x int32x4) -> 16 int8 clamped to [qmin, qmax]. */
static inline int8x16_t qe_narrow_neon(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d,
                                       const qe_requant_neon* r) {
  const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
  const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
  const int8x16_t y = vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
  return vminq_s8(vmaxq_s8(y, r->lo), r->hi);
}

#endif
