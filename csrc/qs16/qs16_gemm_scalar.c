/* Scalar reference 16x8 GEMM microkernels: the contract every SIMD variant matches bit for
 * bit. ukernel32: int32 sums, used only when eq. 21 proves they cannot overflow;
 * ukernel64: int64 sums. Both give the exact sum of eq. 20, then eq. 5. */
#include "qs16/qs16.h"

#define MR 4
#define NR 4

static void ukernel32(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int32_t* m0 = bias + NR;
  const int32_t* sh = m0 + NR;
  const int16_t* wk = (const int16_t*)((const int64_t*)(sh + NR) + NR);
  for (size_t i = 0; i < mr; i++) {
    const int16_t* ai = a + i * a_stride;
    for (size_t j = 0; j < nc; j++) {
      int32_t acc = bias[j];
      for (size_t k = 0; k < kp; k++) acc += (int32_t)ai[k] * wk[k * NR + j];
      qe_qs16_store1(c, i * c_stride + j, qe_requant(acc, m0[j], sh[j], p->zo, p->qmin, p->qmax),
                     p->out8);
    }
  }
}

static void ukernel64(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int16_t* wk = (const int16_t*)((const int64_t*)((const int32_t*)w + 3 * NR) + NR);
  int64_t acc[MR * NR];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++) {
      int64_t s = 0;
      for (size_t k = 0; k < kp; k++) s += (int32_t)a[i * a_stride + k] * wk[k * NR + j];
      acc[i * NR + j] = s;
    }
  qe_qs16_finish64(mr, nc, NR, acc, w, c, c_stride, p);
}

const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__scalar = {
    "qe_qs16_qc8w_gemm_minmax_4x4c1__scalar", "qe_qs16_qc8w_gemm_acc64_minmax_4x4c1__scalar",
    QE_ISA_SCALAR, MR, NR, 1, ukernel32, ukernel64};
