/* Scalar reference sparse kernels: the contract every SIMD variant must match bit for bit.
 * Implements eq. 3 (int32 accumulation, wrapping) and eq. 5 (requantization) on the packed
 * pairs of spmm.h; a dummy block has weight 0 and adds exactly 0. */
#include "sparse/spmm.h"

#define T 16 /* positions per tile */

static void mm(const qe_spmm_w* W, size_t r0, size_t r1, const int16_t* at, size_t at_stride,
               size_t mb, size_t me, int8_t* c, size_t c_stride, const qe_spmm_params* p) {
  const size_t br = W->br;
  for (size_t m = mb; m < me; m += T) {
    const size_t mt = QE_MIN((size_t)T, me - m);
    for (size_t r = r0; r < r1; r++) {
      int32_t acc[4][T];
      for (size_t j = 0; j < br; j++)
        for (size_t i = 0; i < T; i++) acc[j][i] = W->bias[r * br + j];
      for (int32_t q = W->pptr[r]; q < W->pptr[r + 1]; q++) {
        const int16_t* x0 = at + (size_t)W->pidx[2 * q] * at_stride + m;
        const int16_t* x1 = at + (size_t)W->pidx[2 * q + 1] * at_stride + m;
        const int16_t* w = W->pw + (size_t)q * br * 2;
        for (size_t j = 0; j < br; j++)
          for (size_t i = 0; i < T; i++) {
            acc[j][i] = qe_wrap_add(acc[j][i], (int32_t)x0[i] * w[2 * j]);
            acc[j][i] = qe_wrap_add(acc[j][i], (int32_t)x1[i] * w[2 * j + 1]);
          }
      }
      for (size_t j = 0; j < br && r * br + j < W->n; j++) {
        const size_t n = r * br + j;
        int8_t out[T];
        for (size_t i = 0; i < mt; i++)
          out[i] = (int8_t)qe_requant(acc[j][i], W->m0[n], W->sh[n], p->zo, p->qmin, p->qmax);
        qe_spmm_scatter(out, mt, c + m * c_stride + n, c_stride);
      }
    }
  }
}

void qe_spmm_mv__scalar(const qe_spmm_w* W, size_t r0, size_t r1, const int8_t* a,
                        const uint32_t* a32, int8_t* c, const qe_spmm_params* p) {
  const size_t br = W->br;
  for (size_t r = r0; r < r1; r++) {
    int32_t acc[4];
    for (size_t j = 0; j < br; j++) acc[j] = W->bias[r * br + j];
    for (int32_t q = W->pptr[r]; q < W->pptr[r + 1]; q++) {
      const int32_t x0 = a[W->pidx[2 * q]], x1 = a[W->pidx[2 * q + 1]];
      const int16_t* w = W->pw + (size_t)q * br * 2;
      for (size_t j = 0; j < br; j++)
        acc[j] = qe_wrap_add(qe_wrap_add(acc[j], x0 * w[2 * j]), x1 * w[2 * j + 1]);
    }
    for (size_t j = 0; j < br && r * br + j < W->n; j++) {
      const size_t n = r * br + j;
      c[n] = (int8_t)qe_requant(acc[j], W->m0[n], W->sh[n], p->zo, p->qmin, p->qmax);
    }
  }
}

const qe_spmm_kernel qe_spmm_kernel__scalar = {
    {"qe_qs8_spmm_minmax_16x1__scalar", "qe_qs8_spmm_minmax_16x4__scalar"},
    QE_ISA_SCALAR, T, mm, qe_spmm_mv__scalar, qe_spmm_transpose__scalar};
