/* NEON dot-product K-blocked (1x4) sparse kernel (ARMv8.2 +dotprod, e.g. Cortex-A76): one
 * q register of activations is 4 positions x 4 k, so each nonzero block is one vdotq_s32
 * per 4 positions with the block's 4 weights broadcast as a 32-bit lane (sums wrap, eq. 3).
 * eq. 5 by requant__neon.h. */
#include "sparse/kb4_neon.h"

static inline __attribute__((always_inline)) qe_kb4_acc32 channel_bytes(
    const qe_spmm_kb4_w* W, size_t n, const int8_t* at, size_t at_stride, size_t bytes) {
  qe_kb4_acc32 s;
  for (size_t q = 0; q < 8; q++) s.v[q] = vdupq_n_s32(W->bias[n]);
  for (int32_t b = W->ptr[n]; b < W->ptr[n + 1]; b++) {
    const int8x16_t w = vreinterpretq_s8_s32(vdupq_n_s32(W->w[b]));
    const int8_t* x = at + (size_t)W->kb[b] * at_stride;
    if (bytes == 4 * QE_KB4_NEON_T) { /* the whole tile */
      for (size_t q = 0; q < 8; q++) s.v[q] = vdotq_s32(s.v[q], vld1q_s8(x + 16 * q), w);
    } else { /* a blocked-mode tail: nothing past M */
      for (size_t q = 0; q < 8; q++) s.v[q] = vdotq_s32(s.v[q], qe_kb4_load_q(x, q, bytes), w);
    }
  }
  return s;
}

QE_KB4_NEON_ENTRIES

const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__neondot = {
    "qe_qs8_spmm_kb4_minmax_32x16__neondot", QE_ISA_NEONDOT, 4, qe_kb4_pack_s8__neon, mm, NULL,
    qe_kb4_pack_s8_cm__neon, mm_cm, mm_c4, 0, QE_KB4_CM_PANEL};
