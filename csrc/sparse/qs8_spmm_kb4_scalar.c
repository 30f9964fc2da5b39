/* Scalar reference of the K-blocked (1x4) sparse kernel: the contract every SIMD variant
 * must match bit for bit. eq. 3 (int32 sums, wrapping) over the nonzero blocks, each block
 * 4 products a[m, 4kb + j] * w[j], then eq. 5. Signed activations, the plain bias. */
#include <string.h>

#include "sparse/kb4.h"

#define T 16 /* positions per tile */

/* c_pos, c_chan: bytes from one position / channel to the next in C (a channel without
 * blocks is its bias alone: eq. 5 gives its constant) */
static void tiles(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
                  size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_pos,
                  size_t c_chan, const qe_spmm_params* p) {
  n1 = QE_MIN(n1, W->n);
  for (size_t m = mb; m < me; m += T) {
    const size_t mt = QE_MIN((size_t)T, me - m);
    for (size_t n = n0; n < n1; n++) {
      int32_t acc[T];
      for (size_t i = 0; i < T; i++) acc[i] = W->bias[n];
      for (int32_t b = W->ptr[n]; b < W->ptr[n + 1]; b++) {
        int8_t w[4];
        memcpy(w, &W->w[b], 4);
        const int8_t* x = (const int8_t*)at + (size_t)W->kb[b] * at_stride + 4 * m;
        for (size_t i = 0; i < T; i++)
          for (size_t j = 0; j < 4; j++)
            acc[i] = qe_wrap_add(acc[i], (int32_t)x[4 * i + j] * w[j]);
      }
      for (size_t i = 0; i < mt; i++)
        c[(m + i) * c_pos + n * c_chan] =
            (int8_t)qe_requant(acc[i], W->m0[n], W->sh[n], p->zo, p->qmin, p->qmax);
    }
  }
}

static void mm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
               size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
               const qe_spmm_params* p) {
  tiles(W, n0, n1, at, at_stride, mb, me, c, c_stride, 1, p);
}

static void mm_cm(const qe_spmm_kb4_w* W, size_t n0, size_t n1, const uint8_t* at,
                  size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
                  const qe_spmm_params* p) {
  tiles(W, n0, n1, at, at_stride, mb, me, c, 1, c_stride, p);
}

const qe_spmm_kb4_kernel qe_spmm_kb4_kernel__scalar = {
    "qe_qs8_spmm_kb4_minmax_16x1__scalar", QE_ISA_SCALAR, 4, qe_kb4_pack_s8__scalar, mm, NULL,
    qe_kb4_pack_s8_cm__scalar, mm_cm, NULL, 0, QE_KB4_CM_PANEL};
