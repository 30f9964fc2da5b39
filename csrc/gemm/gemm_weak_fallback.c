/* Branch-local stand-ins, so that this branch links on its own.
 *
 * Adding any *__avx2.c / *__avx512vnni.c / *__neon.c file defines QE_HAVE_<VARIANT> for the
 * whole build, and then gemm.c's kernel table names the SIMD GEMM kernels, which live in
 * other branches. These weak definitions run the scalar microkernel under those names;
 * the real (strong) definitions replace them at link time once those branches are merged.
 * Delete this file when all GEMM variants exist. */
#include "gemm/gemm.h"

#define NR 4

static void ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                    const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int32_t* m0 = bias + NR;
  const int32_t* sh = m0 + NR;
  const int8_t* wk = (const int8_t*)(sh + NR);
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++) {
      int32_t acc = bias[j];
      for (size_t k = 0; k < kp; k++)
        acc = qe_wrap_add(acc, (int32_t)a[i * a_stride + k] * wk[k * NR + j]);
      c[i * c_stride + j] = (int8_t)qe_requant(acc, m0[j], sh[j], p->zo, p->qmin, p->qmax);
    }
}

#define QE_WEAK __attribute__((weak))
QE_WEAK const qe_gemm_kernel qe_gemm_kernel__avx2 = {
    "qe_qs8_gemm_minmax_4x4c1__scalar_fallback", QE_ISA_AVX2, 4, NR, 1, 0, ukernel};
QE_WEAK const qe_gemm_kernel qe_gemm_kernel__avx512vnni = {
    "qe_qs8_gemm_minmax_4x4c1__scalar_fallback", QE_ISA_AVX512VNNI, 4, NR, 1, 0, ukernel};
QE_WEAK const qe_gemm_kernel qe_gemm_kernel__neon = {
    "qe_qs8_gemm_minmax_4x4c1__scalar_fallback", QE_ISA_NEON, 4, NR, 1, 0, ukernel};
QE_WEAK const qe_gemm_kernel qe_gemm_kernel__neondot = {
    "qe_qs8_gemm_minmax_4x4c1__scalar_fallback", QE_ISA_NEONDOT, 4, NR, 1, 0, ukernel};
