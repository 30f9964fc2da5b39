/* NEON 16x8 GEMM microkernels (AArch64 and ARMv7): 4 x 8 tile, KR = 1.
 *
 * Inner step (eq. 20): 8 int16 weights of one k are loaded, and vmlal_n_s16 multiplies
 * each half by the row's activation, widening into int32 lanes. Exactness of the int32
 * sums as in the x86 kernels (eq. 21, or 512-k blocks for the int64 kernel).
 * int32 kernel, eq. 5 per channel: vmull_s32 gives the exact 64-bit product, vrshlq_s64 by
 * -sh the rounding shift; the saturating narrows compose with the clamp to [qmin, qmax]
 * (both within int16) into exactly eq. 5's clamp. int64 kernel: qe_qs16_requant64. */
#include <arm_neon.h>
#include <string.h>

#include "qs16/qs16.h"

#define MR 4
#define NR 8

#define INLINE static inline __attribute__((always_inline))

INLINE void accumulate(const size_t R, int32x4_t acc[MR][2], const int16_t* const* ar,
                       const int16_t* wk, size_t k0, size_t k1) {
  for (size_t k = k0; k < k1; k++) {
    const int16x8_t wv = vld1q_s16(wk + k * NR);
    const int16x4_t wl = vget_low_s16(wv), wh = vget_high_s16(wv);
    for (size_t i = 0; i < R; i++) {
      const int16_t av = ar[i][k];
      acc[i][0] = vmlal_n_s16(acc[i][0], wl, av);
      acc[i][1] = vmlal_n_s16(acc[i][1], wh, av);
    }
  }
}

/* 4 accumulators -> 4 int32 y + zo in [qmin, qmax]. */
INLINE int32x4_t requant4(int32x4_t acc, int32x4_t m0, int64x2_t nsh_lo, int64x2_t nsh_hi,
                          int32x4_t zo, int32x4_t qmin, int32x4_t qmax) {
  const int64x2_t p0 = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m0)), nsh_lo);
  const int64x2_t p1 = vrshlq_s64(vmull_s32(vget_high_s32(acc), vget_high_s32(m0)), nsh_hi);
  const int32x4_t y = vqaddq_s32(vcombine_s32(vqmovn_s64(p0), vqmovn_s64(p1)), zo);
  return vminq_s32(vmaxq_s32(y, qmin), qmax);
}

INLINE void tile32(const size_t R, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                   const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int32_t* m0 = bias + NR;
  const int32_t* sh = m0 + NR;
  const int16_t* wk = (const int16_t*)((const int64_t*)(sh + NR) + NR);
  const int16_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = a + i * a_stride;
  int32x4_t acc[MR][2];
  const int32x4_t b0 = vld1q_s32(bias), b1 = vld1q_s32(bias + 4);
  for (size_t i = 0; i < R; i++) acc[i][0] = b0, acc[i][1] = b1;
  accumulate(R, acc, ar, wk, 0, kp);

  const int32x4_t zo = vdupq_n_s32(p->zo);
  const int32x4_t qmin = vdupq_n_s32(p->qmin), qmax = vdupq_n_s32(p->qmax);
  const int32x4_t m0a = vld1q_s32(m0), m0b = vld1q_s32(m0 + 4);
  const int32x4_t sha = vnegq_s32(vld1q_s32(sh)), shb = vnegq_s32(vld1q_s32(sh + 4));
  const int64x2_t n0 = vmovl_s32(vget_low_s32(sha)), n1 = vmovl_s32(vget_high_s32(sha));
  const int64x2_t n2 = vmovl_s32(vget_low_s32(shb)), n3 = vmovl_s32(vget_high_s32(shb));
  for (size_t i = 0; i < R; i++) {
    const int32x4_t y0 = requant4(acc[i][0], m0a, n0, n1, zo, qmin, qmax);
    const int32x4_t y1 = requant4(acc[i][1], m0b, n2, n3, zo, qmin, qmax);
    const int16x8_t y16 = vcombine_s16(vmovn_s32(y0), vmovn_s32(y1));
    if (p->out8) {
      int8_t* ci = (int8_t*)c + i * c_stride;
      const int8x8_t y8 = vmovn_s16(y16);
      if (nc == NR) vst1_s8(ci, y8);
      else {
        int8_t tmp[8];
        vst1_s8(tmp, y8);
        memcpy(ci, tmp, nc);
      }
    } else {
      int16_t* ci = (int16_t*)c + i * c_stride;
      if (nc == NR) vst1q_s16(ci, y16);
      else {
        int16_t tmp[8];
        vst1q_s16(tmp, y16);
        memcpy(ci, tmp, nc * sizeof(int16_t));
      }
    }
  }
}

INLINE void tile64(const size_t R, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                   const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int16_t* wk = (const int16_t*)((const int64_t*)((const int32_t*)w + 3 * NR) + NR);
  const int16_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = a + i * a_stride;
  int64_t acc64[MR * NR];
  int32_t part[MR * NR];
  memset(acc64, 0, sizeof(acc64));
  for (size_t k0 = 0; k0 < kp; k0 += QE_QS16_ACC64_BLOCK) {
    int32x4_t acc[MR][2];
    for (size_t i = 0; i < R; i++) acc[i][0] = acc[i][1] = vdupq_n_s32(0);
    accumulate(R, acc, ar, wk, k0, QE_MIN(kp, k0 + QE_QS16_ACC64_BLOCK));
    for (size_t i = 0; i < R; i++) {
      vst1q_s32(part + i * NR, acc[i][0]);
      vst1q_s32(part + i * NR + 4, acc[i][1]);
    }
    for (size_t i = 0; i < R * NR; i++) acc64[i] += part[i];
  }
  qe_qs16_finish64(R, nc, NR, acc64, w, c, c_stride, p);
}

static void ukernel32(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    case 1: tile32(1, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 2: tile32(2, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 3: tile32(3, nc, kp, a, a_stride, w, c, c_stride, p); break;
    default: tile32(4, nc, kp, a, a_stride, w, c, c_stride, p); break;
  }
}

static void ukernel64(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    case 1: tile64(1, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 2: tile64(2, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 3: tile64(3, nc, kp, a, a_stride, w, c, c_stride, p); break;
    default: tile64(4, nc, kp, a, a_stride, w, c, c_stride, p); break;
  }
}

const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__neon = {
    "qe_qs16_qc8w_gemm_minmax_4x8c1__neon", "qe_qs16_qc8w_gemm_acc64_minmax_4x8c1__neon",
    QE_ISA_NEON, MR, NR, 1, ukernel32, ukernel64};
