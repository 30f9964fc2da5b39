/* NEON dot-product int8 GEMM microkernel, ARMv8.2 (Raspberry Pi 5, Cortex-A76).
 * Eq. 3 (int32 accumulation, wrapping) and eq. 5.
 *
 * SDOT (vdotq_s32) adds four exact s8 x s8 products into each int32 lane: signed x signed,
 * so no activation offset (eq. 7) is needed. Tile 4x16c4: per row four int32x4
 * accumulators (16 channels, one lane each) = 16 registers, plus 4 activation rows and
 * 4 weight vectors, inside AArch64's 32. In the main loop one 16-byte load of a row
 * covers 4 K blocks, each broadcast from its lane by vdotq_laneq_s32. */
#include <string.h>

#include "common/qe_neon.h"
#include "gemm/gemm.h"

#define MR 4
#define NR 16
#define KR 4

static void ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                    const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  const int32_t* bias = (const int32_t*)w; /* panel: bias'[NR] m0[NR] sh[NR] weights */
  const int8_t* wk = (const int8_t*)(bias + 3 * NR);
  const int8_t* ar[MR];
  for (int i = 0; i < MR; i++) ar[i] = a + ((size_t)i < mr ? (size_t)i : 0) * a_stride;

  int32x4_t acc[MR][4];
  for (int i = 0; i < MR; i++)
    for (int q = 0; q < 4; q++) acc[i][q] = vdupq_n_s32(0);

  size_t k = 0;
  for (; k + 16 <= kp; k += 16) {
    int8x16_t va[MR];
    for (int i = 0; i < MR; i++) va[i] = vld1q_s8(ar[i] + k);
/* one K block of 4: weights of 16 channels (64 bytes) against lane L of each row */
#define QE_DOT_BLOCK(L)                                                        \
  do {                                                                         \
    int8x16_t vw[4];                                                           \
    for (int q = 0; q < 4; q++) vw[q] = vld1q_s8(wk + 16 * q);                 \
    wk += NR * KR;                                                             \
    for (int i = 0; i < MR; i++)                                               \
      for (int q = 0; q < 4; q++)                                              \
        acc[i][q] = vdotq_laneq_s32(acc[i][q], vw[q], va[i], L);               \
  } while (0)
    QE_DOT_BLOCK(0);
    QE_DOT_BLOCK(1);
    QE_DOT_BLOCK(2);
    QE_DOT_BLOCK(3);
#undef QE_DOT_BLOCK
  }
  for (; k < kp; k += KR) { /* remaining K blocks of 4 bytes, one at a time */
    int8x16_t va[MR], vw[4];
    for (int i = 0; i < MR; i++) {
      int32_t four;
      memcpy(&four, ar[i] + k, 4);
      va[i] = vreinterpretq_s8_s32(vdupq_n_s32(four));
    }
    for (int q = 0; q < 4; q++) vw[q] = vld1q_s8(wk + 16 * q);
    wk += NR * KR;
    for (int i = 0; i < MR; i++)
      for (int q = 0; q < 4; q++) acc[i][q] = vdotq_s32(acc[i][q], vw[q], va[i]);
  }

  const int32x4_t vzo = vdupq_n_s32(p->zo);
  const int8x8_t vqmin = vdup_n_s8((int8_t)p->qmin), vqmax = vdup_n_s8((int8_t)p->qmax);
  int32x4_t vm0[4];
  int64x2_t nsh[4][2];
  for (int q = 0; q < 4; q++) {
    vm0[q] = vld1q_s32(bias + NR + 4 * q);
    const int32x4_t vsh = vld1q_s32(bias + 2 * NR + 4 * q);
    nsh[q][0] = qe_neon_neg_shift(vget_low_s32(vsh));
    nsh[q][1] = qe_neon_neg_shift(vget_high_s32(vsh));
  }
  for (int i = 0; i < MR; i++) {
    if ((size_t)i >= mr) break;
    int32x4_t out[4];
    for (int q = 0; q < 4; q++) {
      const int32x4_t sum = vaddq_s32(acc[i][q], vld1q_s32(bias + 4 * q));
      out[q] = qe_neon_requant_s32(sum, vm0[q], nsh[q][0], nsh[q][1]);
    }
    int8_t* ci = c + i * c_stride;
    qe_neon_store_s8(ci, qe_neon_output_s8(out[0], out[1], vzo, vqmin, vqmax), QE_MIN(nc, 8));
    if (nc > 8)
      qe_neon_store_s8(ci + 8, qe_neon_output_s8(out[2], out[3], vzo, vqmin, vqmax), nc - 8);
  }
}

const qe_gemm_kernel qe_gemm_kernel__neondot = {
    "qe_qs8_gemm_minmax_4x16c4__neondot", QE_ISA_NEONDOT, MR, NR, KR, 0, ukernel, NULL, NULL};
