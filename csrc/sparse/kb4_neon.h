/* Shared by the NEON K-blocked (1x4) kernels (qs8_spmm_kb4__neon.c, __neondot.c): the tile
 * driver around a per-channel function that returns 32 positions of one channel as
 * int32x4 x 8 (before requantization; 32 rather than 16 halves the per-channel bookkeeping
 * and call per position: 3136 x 24 x 96 at 90% on Cortex-A76, 1.01 M -> 0.84 M guest
 * instructions per call, docs/SPARSE.md). Activations: the signed elem = 4 layout of kb4.h
 * (qe_kb4_pack_s8__scalar), the plain bias. Included only by those files. */
#ifndef QE_SPMM_KB4_NEON_H
#define QE_SPMM_KB4_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "common/requant__neon.h"
#include "sparse/kb4.h"

#define QE_KB4_NEON_T 32 /* positions per tile (QE_KB4_MP is a multiple) */

typedef struct {
  int32x4_t v[8];
} qe_kb4_acc32;

/* dot(channel n, positions x[0 .. 31]) + bias, one int32 per position */
typedef qe_kb4_acc32 (*qe_kb4_neon_channel_fn)(const qe_spmm_kb4_w* W, size_t n,
                                                const int8_t* at, size_t at_stride);
/* the same reading only `bytes` of each k-block row (the rest counts as 0): the blocked
 * mode reads its input in place, and a tail tile must not read past M. A function of its
 * own, so that the whole-tile one keeps its code (with the bound inside it, 3136 x 24 x
 * 96 took 14% more instructions on Cortex-A72). */
typedef qe_kb4_acc32 (*qe_kb4_neon_channel_tail_fn)(const qe_spmm_kb4_w* W, size_t n,
                                                     const int8_t* at, size_t at_stride,
                                                     size_t bytes);

/* x[r] byte c -> x[c] byte r: the off-diagonal 1-, 2-, 4- and 8-byte blocks swapped in
 * turn (vtrn at 8, 16, 32 bits, then the 64-bit halves): 64 moves where a byte loop makes
 * 256 loads and stores. */
static inline void qe_kb4_tr16x16(int8x16_t x[16]) {
  for (size_t i = 0; i < 16; i += 2) {
    const int8x16x2_t t = vtrnq_s8(x[i], x[i + 1]);
    x[i] = t.val[0], x[i + 1] = t.val[1];
  }
  for (size_t i = 0; i < 16; i += (i % 4 == 1) ? 3 : 1) { /* 0 1, 4 5, 8 9, 12 13 */
    const int16x8x2_t t = vtrnq_s16(vreinterpretq_s16_s8(x[i]), vreinterpretq_s16_s8(x[i + 2]));
    x[i] = vreinterpretq_s8_s16(t.val[0]), x[i + 2] = vreinterpretq_s8_s16(t.val[1]);
  }
  for (size_t i = 0; i < 16; i += (i % 8 == 3) ? 5 : 1) { /* 0 1 2 3, 8 9 10 11 */
    const int32x4x2_t t = vtrnq_s32(vreinterpretq_s32_s8(x[i]), vreinterpretq_s32_s8(x[i + 4]));
    x[i] = vreinterpretq_s8_s32(t.val[0]), x[i + 4] = vreinterpretq_s8_s32(t.val[1]);
  }
  for (size_t i = 0; i < 8; i++) {
    const int8x16_t lo = vcombine_s8(vget_low_s8(x[i]), vget_low_s8(x[i + 8]));
    x[i + 8] = vcombine_s8(vget_high_s8(x[i]), vget_high_s8(x[i + 8]));
    x[i] = lo;
  }
}

/* nb bytes from src, zero padded to 16 (the loads of row and tile tails) */
static inline int8x16_t qe_kb4_load_part(const int8_t* src, size_t nb) {
  if (nb >= 16) return vld1q_s8(src);
  int8_t tmp[16] = {0};
  memcpy(tmp, src, nb);
  return vld1q_s8(tmp);
}

/* nb bytes of v to dst (nb <= 16) */
static inline void qe_kb4_store_part(int8_t* dst, int8x16_t v, size_t nb) {
  if (nb == 16) {
    vst1q_s8(dst, v);
    return;
  }
  size_t j = 0;
  if (nb >= 8) vst1_s8(dst, vget_low_s8(v)), j = 8;
  int8_t row[16];
  vst1q_s8(row, v);
  for (; j < nb; j++) dst[j] = row[j];
}

/* The 16 bytes at x + 16 q of a row of which `bytes` may be read (zeros past them). */
static inline int8x16_t qe_kb4_load_q(const int8_t* x, size_t q, size_t bytes) {
  return 16 * q < bytes ? qe_kb4_load_part(x + 16 * q, bytes - 16 * q) : vdupq_n_s8(0);
}

enum { QE_KB4_ROWS, QE_KB4_CHANNEL_MAJOR, QE_KB4_BLOCKED };

/* layout: C [M, N] (rows), C^T [N, M] (c[n * c_stride + m], channel-major) or the blocked
 * layout (c[(n / 4) * c_stride + 4 m + n % 4]: vst4q interleaves 4 channels' 16 positions;
 * `at` is then the caller's input, read in place) */
static inline void qe_kb4_neon_mm(qe_kb4_neon_channel_fn channel,
                                  qe_kb4_neon_channel_tail_fn channel_tail,
                                  const qe_spmm_kb4_w* W,
                                  size_t n0, size_t n1, const uint8_t* at, size_t at_stride,
                                  size_t mb, size_t me, int8_t* c, size_t c_stride,
                                  const qe_spmm_params* p, int layout) {
  n1 = QE_MIN(n1, W->n);
  for (size_t m = mb; m < me; m += QE_KB4_NEON_T) {
    const size_t mt = QE_MIN((size_t)QE_KB4_NEON_T, me - m);
    const size_t halves = mt > 16 ? 2 : 1;
    const int tail = layout == QE_KB4_BLOCKED && mt < QE_KB4_NEON_T;
    const int8_t* atm = (const int8_t*)at + 4 * m;
    for (size_t n = n0; n < n1; n += 16) {
      const size_t nc = QE_MIN((size_t)16, n1 - n);
      int8x16_t x[2][16]; /* x[half][channel] byte position 16 half + b */
      for (size_t j = 0; j < 16; j++) {
        if (j >= nc) {
          x[0][j] = x[1][j] = vdupq_n_s8(0);
          continue;
        }
        if (qe_kb4_empty(W, n + j)) { /* pruned away: its constant */
          x[0][j] = x[1][j] = vdupq_n_s8(qe_kb4_empty_out(W, n + j, p));
          continue;
        }
        const qe_kb4_acc32 s = tail ? channel_tail(W, n + j, atm, at_stride, 4 * mt)
                                    : channel(W, n + j, atm, at_stride);
        const qe_requant_neon r =
            qe_requant_neon_init(W->m0[n + j], W->sh[n + j], p->zo, p->qmin, p->qmax);
        for (size_t h = 0; h < 2; h++)
          x[h][j] = qe_narrow_neon(
              qe_requant_neon_4(s.v[4 * h], &r), qe_requant_neon_4(s.v[4 * h + 1], &r),
              qe_requant_neon_4(s.v[4 * h + 2], &r), qe_requant_neon_4(s.v[4 * h + 3], &r), &r);
      }
      for (size_t h = 0; h < halves; h++) {
        const size_t ht = QE_MIN((size_t)16, mt - 16 * h); /* positions in this half */
        if (layout == QE_KB4_BLOCKED) { /* channels past N are 0 in x */
          for (size_t j = 0; j < nc; j += 4) {
            const int8x16x4_t g = {{x[h][j], x[h][j + 1], x[h][j + 2], x[h][j + 3]}};
            int8_t* dst = c + (n + j) / 4 * c_stride + 4 * (m + 16 * h);
            if (ht == 16) {
              vst4q_s8(dst, g);
              continue;
            }
            int8_t tmp[64];
            vst4q_s8(tmp, g);
            memcpy(dst, tmp, 4 * ht);
          }
          continue;
        }
        if (layout == QE_KB4_CHANNEL_MAJOR) {
          for (size_t j = 0; j < nc; j++)
            qe_kb4_store_part(c + (n + j) * c_stride + m + 16 * h, x[h][j], ht);
          continue;
        }
        qe_kb4_tr16x16(x[h]); /* x[h][position] byte channel */
        for (size_t i = 0; i < ht; i++)
          qe_kb4_store_part(c + (m + 16 * h + i) * c_stride + n, x[h][i], nc);
      }
    }
  }
}

/* The entries of a kernel file that defines channel_bytes (always inline, the signature
 * of qe_kb4_neon_channel_tail_fn): channel and channel_tail, and mm, mm_cm and mm_c4. */
#define QE_KB4_NEON_ENTRIES                                                                \
  static qe_kb4_acc32 channel(const qe_spmm_kb4_w* W, size_t n, const int8_t* at,         \
                              size_t at_stride) {                                         \
    return channel_bytes(W, n, at, at_stride, 4 * QE_KB4_NEON_T);                           \
  }                                                                                        \
  static qe_kb4_acc32 channel_tail(const qe_spmm_kb4_w* W, size_t n, const int8_t* at,    \
                                   size_t at_stride, size_t bytes) {                      \
    return channel_bytes(W, n, at, at_stride, bytes);                                      \
  }                                                                                        \
  static void mm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,         \
                 size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,      \
                 const qe_spmm_params* p) {                                               \
    qe_kb4_neon_mm(channel, channel_tail, W, n0, n1, at, at_stride, mb, me, c, c_stride, p, QE_KB4_ROWS); \
  }                                                                                        \
  static void mm_cm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,      \
                    size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,   \
                    const qe_spmm_params* p) {                                            \
    qe_kb4_neon_mm(channel, channel_tail, W, n0, n1, at, at_stride, mb, me, c, c_stride, p,               \
                   QE_KB4_CHANNEL_MAJOR);                                                  \
  }                                                                                        \
  static void mm_c4(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,      \
                    size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,   \
                    const qe_spmm_params* p, uint8_t* slab) {                             \
    (void)slab; /* the signed elem = 4 layout is the blocked layout: read in place */      \
    qe_kb4_neon_mm(channel, channel_tail, W, n0, n1, at, at_stride, mb, me, c, c_stride, p,               \
                   QE_KB4_BLOCKED);                                                        \
  }

#endif
