/* Scalar reference GEMM microkernel: the contract every SIMD variant must match bit for bit.
 * Implements eq. 3 (int32 accumulation, wrapping) and eq. 5 (requantization). */
#include "gemm/gemm.h"

#define MR 4
#define NR 4

static void ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                    const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int32_t* m0 = bias + NR;
  const int32_t* sh = m0 + NR;
  const int8_t* wk = (const int8_t*)(sh + NR);
  for (size_t i = 0; i < mr; i++) {
    const int8_t* ai = a + i * a_stride;
    for (size_t j = 0; j < nc; j++) {
      int32_t acc = bias[j];
      for (size_t k = 0; k < kp; k++) acc = qe_wrap_add(acc, (int32_t)ai[k] * wk[k * NR + j]);
      c[i * c_stride + j] = (int8_t)qe_requant(acc, m0[j], sh[j], p->zo, p->qmin, p->qmax);
    }
  }
}

const qe_gemm_kernel qe_gemm_kernel__scalar = {
    "qe_qs8_gemm_minmax_4x4c1__scalar", QE_ISA_SCALAR, MR, NR, 1, 0, ukernel, NULL, NULL};
