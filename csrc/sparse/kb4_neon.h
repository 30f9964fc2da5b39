/* Shared by the NEON K-blocked (1x4) kernels (qs8_spmm_kb4__neon.c, __neondot.c): the tile
 * driver around a per-channel function that returns 16 positions of one channel as
 * int32x4 x 4 (before requantization). Activations: the signed elem = 4 layout of kb4.h
 * (qe_kb4_pack_s8__scalar), the plain bias. Included only by those files. */
#ifndef QE_SPMM_KB4_NEON_H
#define QE_SPMM_KB4_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "common/requant__neon.h"
#include "sparse/kb4.h"

#define QE_KB4_NEON_T 16 /* positions per tile */

typedef struct {
  int32x4_t v[4];
} qe_kb4_acc16;

/* dot(channel n, positions x[0 .. 15]) + bias, one int32 per position */
typedef qe_kb4_acc16 (*qe_kb4_neon_channel_fn)(const qe_spmm_kb4_w* W, size_t n,
                                                const int8_t* at, size_t at_stride);

/* channel_major: C^T [N, M] (c[n * c_stride + m]), else C [M, N] */
static inline void qe_kb4_neon_mm(qe_kb4_neon_channel_fn channel, const qe_spmm_kb4_w* W,
                                  size_t n0, size_t n1, const uint8_t* at, size_t at_stride,
                                  size_t mb, size_t me, int8_t* c, size_t c_stride,
                                  const qe_spmm_params* p, int channel_major) {
  n1 = QE_MIN(n1, W->n);
  for (size_t m = mb; m < me; m += QE_KB4_NEON_T) {
    const size_t mt = QE_MIN((size_t)QE_KB4_NEON_T, me - m);
    const int8_t* atm = (const int8_t*)at + 4 * m;
    for (size_t n = n0; n < n1; n += 16) {
      const size_t nc = QE_MIN((size_t)16, n1 - n);
      int8_t buf[16][16]; /* [channel][position] */
      for (size_t j = 0; j < nc; j++) {
        const qe_kb4_acc16 s = channel(W, n + j, atm, at_stride);
        const qe_requant_neon r =
            qe_requant_neon_init(W->m0[n + j], W->sh[n + j], p->zo, p->qmin, p->qmax);
        vst1q_s8(buf[j], qe_narrow_neon(qe_requant_neon_4(s.v[0], &r),
                                        qe_requant_neon_4(s.v[1], &r),
                                        qe_requant_neon_4(s.v[2], &r),
                                        qe_requant_neon_4(s.v[3], &r), &r));
      }
      if (channel_major) {
        for (size_t j = 0; j < nc; j++)
          if (!qe_kb4_empty(W, n + j)) memcpy(c + (n + j) * c_stride + m, buf[j], mt);
        continue;
      }
      for (size_t i = 0; i < mt; i++) {
        int8_t* dst = c + (m + i) * c_stride + n;
        for (size_t j = 0; j < nc; j++) dst[j] = buf[j][i];
      }
    }
  }
}

/* The mm and mm_cm entries of a kernel file that defines `channel`. */
#define QE_KB4_NEON_ENTRIES                                                                \
  static void mm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,         \
                 size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,      \
                 const qe_spmm_params* p) {                                               \
    qe_kb4_neon_mm(channel, W, n0, n1, at, at_stride, mb, me, c, c_stride, p, 0);          \
  }                                                                                        \
  static void mm_cm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,      \
                    size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,   \
                    const qe_spmm_params* p) {                                            \
    qe_kb4_neon_mm(channel, W, n0, n1, at, at_stride, mb, me, c, c_stride, p, 1);          \
  }

#endif
