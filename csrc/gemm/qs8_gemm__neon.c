/* NEON int8 GEMM microkernel for ARMv8.0 (AArch64: Raspberry Pi 3/4) and ARMv7 NEON
 * (32-bit Raspberry Pi OS). Eq. 3 (int32 accumulation, wrapping) and eq. 5.
 *
 * Products: vmull_s8 gives exact int16 products a*w; vmlal_s8 adds a second product (of k
 * and k + 8) into the same int16 lane. That pair sum cannot overflow because weights are
 * in [-127, 127]: |a*w + a'*w'| <= 2 * 128 * 127 = 32512 < 2^15 (docs/QUANTIZATION.md
 * section 1). vpadalq_s16 then adds adjacent int16 pairs into the int32 accumulators.
 *
 * Tile MR x 4c16: one int32x4 accumulator per (row, channel), holding partial sums of
 * that channel's 16-byte K blocks, reduced horizontally once at the end. AArch64 has 32
 * q registers: 4x4 = 16 accumulators + 4 activation rows + weights + products. ARMv7 has
 * 16: 2x4 = 8 accumulators + 2 rows + weights + products, no spills. */
#include <string.h>

#include "common/qe_neon.h"
#include "gemm/gemm.h"

#if defined(__aarch64__)
#define MR 4
#define NAME "qe_qs8_gemm_minmax_4x4c16__neon"
#else
#define MR 2
#define NAME "qe_qs8_gemm_minmax_2x4c16__neon"
#endif
#define NR 4
#define KR 16

/* prod + high(a) * high(w); AArch64 does it in one instruction (smlal2). */
#if defined(__aarch64__)
#define mlal_high(prod, a, w) vmlal_high_s8(prod, a, w)
#else
#define mlal_high(prod, a, w) vmlal_s8(prod, vget_high_s8(a), vget_high_s8(w))
#endif

/* Stores the first nc (<= 4) bytes of half `h` of v: rows are packed two per int8x8. */
static inline void store_row4(int8_t* dst, int8x8_t v, int h, size_t nc) {
  const uint32_t bits = vget_lane_u32(vreinterpret_u32_s8(v), 0);
  const uint32_t bits_hi = vget_lane_u32(vreinterpret_u32_s8(v), 1);
  const uint32_t row = h ? bits_hi : bits;
  if (nc == 4) {
    memcpy(dst, &row, 4); /* unaligned-safe 4-byte store */
    return;
  }
  for (size_t j = 0; j < nc; j++) dst[j] = (int8_t)(row >> (8 * j)); /* little-endian */
}

static void ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                    const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  const int32_t* bias = (const int32_t*)w; /* panel: bias'[NR] m0[NR] sh[NR] weights */
  const int8_t* wk = (const int8_t*)(bias + 3 * NR);
  const int8_t* ar[MR];
  for (int i = 0; i < MR; i++) ar[i] = a + ((size_t)i < mr ? (size_t)i : 0) * a_stride;

  int32x4_t acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = vdupq_n_s32(0);

  for (size_t k = 0; k < kp; k += KR) {
    int8x16_t va[MR];
    for (int i = 0; i < MR; i++) va[i] = vld1q_s8(ar[i] + k);
    for (int j = 0; j < NR; j++) {
      const int8x16_t vw = vld1q_s8(wk);
      wk += KR;
      for (int i = 0; i < MR; i++) {
        int16x8_t prod = vmull_s8(vget_low_s8(va[i]), vget_low_s8(vw));
        prod = mlal_high(prod, va[i], vw); /* the int16 pair sum: see top */
        acc[i][j] = vpadalq_s16(acc[i][j], prod);
      }
    }
  }

  const int32x4_t vbias = vld1q_s32(bias), vm0 = vld1q_s32(bias + NR);
  const int32x4_t vsh = vld1q_s32(bias + 2 * NR);
  const int64x2_t nsh_lo = qe_neon_neg_shift(vget_low_s32(vsh));
  const int64x2_t nsh_hi = qe_neon_neg_shift(vget_high_s32(vsh));
  const int32x4_t vzo = vdupq_n_s32(p->zo);
  const int8x8_t vqmin = vdup_n_s8((int8_t)p->qmin), vqmax = vdup_n_s8((int8_t)p->qmax);
  for (int i = 0; i < MR; i += 2) {
    int32x4_t out[2];
    for (int h = 0; h < 2; h++) {
      const int32x4_t* r = acc[i + h];
      const int32x4_t sum = vaddq_s32(vbias, qe_neon_hsum4x4_s32(r[0], r[1], r[2], r[3]));
      out[h] = qe_neon_requant_s32(sum, vm0, nsh_lo, nsh_hi);
    }
    const int8x8_t v = qe_neon_output_s8(out[0], out[1], vzo, vqmin, vqmax);
    if ((size_t)i < mr) store_row4(c + i * c_stride, v, 0, nc);
    if ((size_t)i + 1 < mr) store_row4(c + (i + 1) * c_stride, v, 1, nc);
  }
}

const qe_gemm_kernel qe_gemm_kernel__neon = {NAME, QE_ISA_NEON, MR, NR, KR, 0, ukernel, NULL,
                                             NULL};
