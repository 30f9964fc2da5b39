/* Weak stand-ins for the SIMD GEMM kernels of gemm.c's table. Another kernel family (e.g.
 * dwconv) may compile a variant before that variant's GEMM kernel exists; then the variant's
 * GEMM entry is the scalar kernel (same tile, same packing), so the build links and the
 * results are exact. The real qs8_gemm_*__<variant>.c definitions override these. */
#include "gemm/gemm.h"

static void scalar_ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                           const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  qe_gemm_kernel__scalar.ukernel(mr, nc, kp, a, a_stride, w, c, c_stride, p);
}

#define QE_GEMM_FALLBACK(variant, isa_id)                                     \
  __attribute__((weak)) const qe_gemm_kernel qe_gemm_kernel__##variant = {    \
      .name = "qe_qs8_gemm_minmax_4x4c1__scalar", .isa = isa_id, .mr = 4,     \
      .nr = 4, .kr = 1, .a_xor = 0, .ukernel = scalar_ukernel}

QE_GEMM_FALLBACK(avx2, QE_ISA_AVX2);
QE_GEMM_FALLBACK(avx512vnni, QE_ISA_AVX512VNNI);
QE_GEMM_FALLBACK(neon, QE_ISA_NEON);
QE_GEMM_FALLBACK(neondot, QE_ISA_NEONDOT);
