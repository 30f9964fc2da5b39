/* Weak stand-ins for GEMM kernels of SIMD variants whose file is not in this tree yet.
 *
 * setup.py defines QE_HAVE_<VARIANT> as soon as any family has a file of that variant
 * (e.g. csrc/sparse/qs8_spmm__avx2.c), and gemm.c then refers to qe_gemm_kernel__<variant>.
 * Until the real kernel exists, these weak definitions run the scalar microkernel under
 * the variant's name slot; a real (strong) definition replaces them at link time. */
#include "gemm/gemm.h"

static void scalar_ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                           const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  qe_gemm_kernel__scalar.ukernel(mr, nc, kp, a, a_stride, w, c, c_stride, p);
}

#define QE_GEMM_FALLBACK(variant, isa)                                                 \
  __attribute__((weak)) const qe_gemm_kernel qe_gemm_kernel__##variant = {             \
      "qe_qs8_gemm_minmax_4x4c1__scalar", isa, 4, 4, 1, 0, scalar_ukernel}

QE_GEMM_FALLBACK(avx2, QE_ISA_AVX2);
QE_GEMM_FALLBACK(avx512vnni, QE_ISA_AVX512VNNI);
QE_GEMM_FALLBACK(neon, QE_ISA_NEON);
QE_GEMM_FALLBACK(neondot, QE_ISA_NEONDOT);
