/* Internal interface of the 16x8 family (int16 activations, int8 weights). ISA-neutral.
 *
 * Packed GEMM weights, for a kernel with tile (MR, NR, KR) and Kp = round_up(K, KR):
 *   a 64-byte header (uint32 acc64: 1 when eq. 21 requires int64 accumulators), then
 *   panels of NR output channels, panel j at header + j * qe_qs16_panel_bytes(kernel, K):
 *     int32 bias32[NR]  (bias, when acc64 = 0; 0 otherwise)
 *     int32 m0[NR], int32 sh[NR]
 *     int64 bias64[NR]
 *     int16 w[Kp / KR][NR][KR]   w[kb][j][r] = W[j0 + j, kb * KR + r], zero padded
 *   Channels past N are padded with bias 0, m0 0, sh 1, weights 0.
 * Activations: the kernels read rows of Kp int16 at any row stride, so the caller's rows
 * are used in place when K % KR == 0; only odd K with KR = 2 is copied into zero-padded
 * rows of Kp (scratch; the copy read and wrote 4 MiB per call at 1024^3, ~3% of it). */
#ifndef QE_QS16_H
#define QE_QS16_H

#include "common/qe_common.h"
#include "qengine.h"

/* int64 kernels sum blocks of this many k in int32, then add the block into int64:
 * 512 * 32768 * 127 = 2130706432 < 2^31, so a block never overflows (eq. 22). */
#define QE_QS16_ACC64_BLOCK 512

typedef struct {
  int32_t zo, qmin, qmax;
  int out8;
} qe_qs16_params;

/* Rows [0, mr) x channels [0, nc) of one tile; a: packed rows of kp int16. */
typedef void (*qe_qs16_ukernel_fn)(size_t mr, size_t nc, size_t kp, const int16_t* a,
                                   size_t a_stride, const void* w, void* c, size_t c_stride,
                                   const qe_qs16_params* p);

struct qe_qs16_gemm_kernel {
  const char* name32; /* qe_qs16_qc8w_gemm_minmax_<MR>x<NR>c<KR>__<isa> */
  const char* name64; /* qe_qs16_qc8w_gemm_acc64_minmax_<MR>x<NR>c<KR>__<isa> */
  int isa;
  uint32_t mr, nr, kr;
  qe_qs16_ukernel_fn ukernel32, ukernel64;
};

#define QE_QS16_HEADER_BYTES 64

static inline size_t qe_qs16_panel_bytes(const qe_qs16_gemm_kernel* k, size_t kdim) {
  return (size_t)k->nr * (5 * sizeof(int32_t) + 2 * qe_round_up(kdim, k->kr));
}

extern const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__scalar;
extern const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__avx2;
extern const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__avx512vnni;
extern const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__neon;

/* eq. 5 for an int64 accumulator with |acc| < 2^62, exact, without a 128-bit type
 * (ARMv7 has none): with acc = hi * 2^32 + lo, 0 <= lo < 2^32, the product
 * acc * m0 = H * 2^32 + L is formed with 0 <= L < 2^32, the rounding term added, and
 * floor(p / 2^sh) taken from (H, L). For sh < 32 the result is H * 2^(32-sh) + (L >> sh);
 * H is first limited to +-2^30, which changes only values far outside every output range
 * (|y| >= 2^31 either way), so the clamp gives the same answer. */
static inline int32_t qe_qs16_requant64(int64_t acc, int32_t m0, int32_t sh, int32_t zo,
                                        int32_t qmin, int32_t qmax) {
  /* the usual case: the sum fits in int32 after all, and eq. 5 fits in int64 */
  if (acc >= INT32_MIN && acc <= INT32_MAX) return qe_requant((int32_t)acc, m0, sh, zo, qmin, qmax);
  const int64_t hi = acc >> 32; /* arithmetic */
  const uint64_t plo = ((uint64_t)acc & 0xFFFFFFFFu) * (uint64_t)m0; /* < 2^63 */
  int64_t H = hi * m0 + (int64_t)(plo >> 32);
  uint64_t L = plo & 0xFFFFFFFFu;
  int64_t y;
  if (sh >= 33) {
    y = (H + ((int64_t)1 << (sh - 33))) >> (sh - 32);
  } else {
    L += (uint64_t)1 << (sh - 1);
    H += (int64_t)(L >> 32);
    L &= 0xFFFFFFFFu;
    if (sh == 32) {
      y = H;
    } else {
      const int64_t cap = (int64_t)1 << 30;
      H = H > cap ? cap : H < -cap ? -cap : H;
      y = H * ((int64_t)1 << (32 - sh)) + (int64_t)(L >> sh);
    }
  }
  y += zo;
  if (y < qmin) y = qmin;
  if (y > qmax) y = qmax;
  return (int32_t)y;
}

static inline void qe_qs16_store1(void* c, size_t idx, int32_t y, int out8) {
  if (out8)
    ((int8_t*)c)[idx] = (int8_t)y;
  else
    ((int16_t*)c)[idx] = (int16_t)y;
}

/* The int64 tail shared by every variant's acc64 ukernel: acc64[i][j] (row stride NR) plus
 * bias64, eq. 5 per output, stored. */
static inline void qe_qs16_finish64(size_t mr, size_t nc, size_t nr, const int64_t* acc64,
                                    const void* w, void* c, size_t c_stride,
                                    const qe_qs16_params* p) {
  const int32_t* m0 = (const int32_t*)w + nr;
  const int32_t* sh = m0 + nr;
  const int64_t* bias64 = (const int64_t*)(sh + nr);
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++)
      qe_qs16_store1(c, i * c_stride + j,
                     qe_qs16_requant64(acc64[i * nr + j] + bias64[j], m0[j], sh[j], p->zo,
                                       p->qmin, p->qmax),
                     p->out8);
}

void qe_qs16_gemm_pack_a(const qe_qs16_gemm_kernel* k, size_t m, size_t kdim,
                         const int16_t* a, size_t a_stride, int16_t* out);

#endif
