/* NEON K-blocked (1x4) sparse kernel (ARMv7 and AArch64 without the dot product): for each
 * nonzero block, the 4 weights (as 8 bytes w0..w3 w0..w3) multiply 2 positions x 4 k of
 * activations with vmull_s8 (int8 x int8 fits int16 exactly), and vpadalq_s16 adds the
 * pairs into int32 lanes {pos, k01}, {pos, k23}; a final pairwise add gives one int32 per
 * position (sums wrap, eq. 3). eq. 5 by requant__neon.h. */
#include "sparse/kb4_neon.h"

static inline int32x4_t pair_sum(int32x4_t a, int32x4_t b) { /* {a0+a1, a2+a3, b0+b1, b2+b3} */
  return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)),
                      vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
}

/* acc[0..1] += the products of 4 positions x 4 k (v) by the block's weights w */
static inline void madd(int32x4_t acc[2], int8x16_t v, int8x8_t w) {
  acc[0] = vpadalq_s16(acc[0], vmull_s8(vget_low_s8(v), w));
  acc[1] = vpadalq_s16(acc[1], vmull_s8(vget_high_s8(v), w));
}

static inline __attribute__((always_inline)) qe_kb4_acc32 channel_bytes(
    const qe_spmm_kb4_w* W, size_t n, const int8_t* at, size_t at_stride, size_t bytes) {
  int32x4_t acc[16];
  for (size_t i = 0; i < 16; i++) acc[i] = vdupq_n_s32(0);
  for (int32_t b = W->ptr[n]; b < W->ptr[n + 1]; b++) {
    const int8x8_t w = vreinterpret_s8_s32(vdup_n_s32(W->w[b]));
    const int8_t* x = at + (size_t)W->kb[b] * at_stride;
    if (bytes == 4 * QE_KB4_NEON_T) { /* the whole tile */
      for (size_t q = 0; q < 8; q++) /* positions 4q .. 4q+3 */
        madd(acc + 2 * q, vld1q_s8(x + 16 * q), w);
    } else { /* a blocked-mode tail: nothing past M */
      for (size_t q = 0; q < 8; q++) madd(acc + 2 * q, qe_kb4_load_q(x, q, bytes), w);
    }
  }
  qe_kb4_acc32 s;
  const int32x4_t bias = vdupq_n_s32(W->bias[n]);
  for (size_t q = 0; q < 8; q++) s.v[q] = vaddq_s32(pair_sum(acc[2 * q], acc[2 * q + 1]), bias);
  return s;
}

/* 16 bytes of row i of A from byte kk (zeros past row m or byte k). */
static inline int32x4_t row16(const int8_t* a, size_t a_stride, size_t i, size_t m, size_t kk,
                              size_t k) {
  if (i >= m) return vdupq_n_s32(0);
  return vreinterpretq_s32_s8(qe_kb4_load_part(a + i * a_stride + kk, k - kk));
}

/* r[j] = 16 bytes of row j (4 k-blocks of one position) -> nd of the 4 vectors "k-block
 * kb + d of the 4 positions" at dst + d * at_stride: a 4 x 4 transpose of 32-bit words. */
static inline void pack4x4(int32x4_t r0, int32x4_t r1, int32x4_t r2, int32x4_t r3, uint8_t* dst,
                           size_t at_stride, size_t nd) {
  /* t01.val[0] = {r0[0], r1[0], r0[2], r1[2]}, t01.val[1] = {r0[1], r1[1], r0[3], r1[3]} */
  const int32x4x2_t t01 = vtrnq_s32(r0, r1), t23 = vtrnq_s32(r2, r3);
  const int32x4_t out[4] = {
      vcombine_s32(vget_low_s32(t01.val[0]), vget_low_s32(t23.val[0])),
      vcombine_s32(vget_low_s32(t01.val[1]), vget_low_s32(t23.val[1])),
      vcombine_s32(vget_high_s32(t01.val[0]), vget_high_s32(t23.val[0])),
      vcombine_s32(vget_high_s32(t01.val[1]), vget_high_s32(t23.val[1]))};
  for (size_t d = 0; d < nd; d++)
    vst1q_u8(dst + d * at_stride, vreinterpretq_u8_s32(out[d]));
}

/* A [M, K] -> the signed elem = 4 layout (the bytes qe_kb4_pack_s8__scalar makes), 4
 * positions x 4 k-blocks per step (16 loads, 4 stores and 8 moves where the scalar pack
 * copies 16 words one by one). Whole 16-byte chunks of 4 rows inside M run a loop of their
 * own (one loop with the bounds checks inside made gcc keep its strides on the stack:
 * ~1400 instructions per 16 positions at K = 96 instead of ~500); the K tail and rows past
 * M take row16. The neondot kernel uses it too. */
void qe_kb4_pack_s8__neon(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                          uint8_t* at, size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4), kwhole = k / 16 * 4; /* k-blocks in whole chunks */
  for (size_t i = m0; i < m0 + QE_KB4_MP; i += 4) {
    uint8_t* dst = at + 4 * i;
    size_t kb = 0;
    if (i + 4 <= m) {
      const int8_t* src = a + i * a_stride;
      for (; kb < kwhole; kb += 4, src += 16)
        pack4x4(vreinterpretq_s32_s8(vld1q_s8(src)),
                vreinterpretq_s32_s8(vld1q_s8(src + a_stride)),
                vreinterpretq_s32_s8(vld1q_s8(src + 2 * a_stride)),
                vreinterpretq_s32_s8(vld1q_s8(src + 3 * a_stride)), dst + kb * at_stride,
                at_stride, 4);
    }
    for (; kb < kbs; kb += 4)
      pack4x4(row16(a, a_stride, i, m, 4 * kb, k), row16(a, a_stride, i + 1, m, 4 * kb, k),
              row16(a, a_stride, i + 2, m, 4 * kb, k), row16(a, a_stride, i + 3, m, 4 * kb, k),
              dst + kb * at_stride, at_stride, QE_MIN((size_t)4, kbs - kb));
  }
}

/* A^T [K, M] -> the signed elem = 4 layout (the bytes qe_kb4_pack_s8_cm__scalar makes), 16
 * positions per step: the 4 rows of a k-block zipped bytewise, then by halfwords, give the
 * 4 bytes of each position in order. The neondot kernel uses it too. */
void qe_kb4_pack_s8_cm__neon(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                             uint8_t* at, size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4), mt = QE_MIN((size_t)QE_KB4_MP, m - m0);
  for (size_t kb = 0; kb < kbs; kb++) {
    int8_t* d = (int8_t*)at + kb * at_stride + 4 * m0;
    for (size_t h = 0; h < QE_KB4_MP; h += 16) {
      int8x16_t r[4];
      for (size_t j = 0; j < 4; j++) {
        if (4 * kb + j >= k || h >= mt) {
          r[j] = vdupq_n_s8(0);
          continue;
        }
        r[j] = qe_kb4_load_part(a + (4 * kb + j) * a_stride + m0 + h, mt - h);
      }
      const int8x16x2_t z01 = vzipq_s8(r[0], r[1]), z23 = vzipq_s8(r[2], r[3]);
      const int16x8x2_t lo =
          vzipq_s16(vreinterpretq_s16_s8(z01.val[0]), vreinterpretq_s16_s8(z23.val[0]));
      const int16x8x2_t hi =
          vzipq_s16(vreinterpretq_s16_s8(z01.val[1]), vreinterpretq_s16_s8(z23.val[1]));
      vst1q_s8(d + 4 * h, vreinterpretq_s8_s16(lo.val[0]));
      vst1q_s8(d + 4 * h + 16, vreinterpretq_s8_s16(lo.val[1]));
      vst1q_s8(d + 4 * h + 32, vreinterpretq_s8_s16(hi.val[0]));
      vst1q_s8(d + 4 * h + 48, vreinterpretq_s8_s16(hi.val[1]));
    }
  }
}

QE_KB4_NEON_ENTRIES

const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__neon = {
    "qe_qs8_spmm_kb4_minmax_32x16__neon", QE_ISA_NEON, 4, qe_kb4_pack_s8__neon, mm, NULL,
    qe_kb4_pack_s8_cm__neon, mm_cm, mm_c4, 0, QE_KB4_CM_PANEL};
