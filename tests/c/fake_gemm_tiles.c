/* Test-only GEMM kernels with unusual tiles, linked over the weak stand-ins of
 * csrc/gemm/gemm_fallback.c, so the conv paths are checked against kernels that want packed
 * activations (KR > 1, XOR 0x80 as for VNNI, eq. 7) before the real SIMD GEMM kernels
 * exist. Plain C: reads the packed panel exactly as gemm.h documents it. */
#include "gemm/gemm.h"

#define DEFINE_FAKE(NAME, MR, NR, KR, XOR)                                                   \
  static void NAME##_ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a,              \
                             size_t a_stride, const void* w, int8_t* c, size_t c_stride,    \
                             const qe_gemm_params* p) {                                     \
    const int32_t* bias = (const int32_t*)w;                                                \
    const int32_t *m0 = bias + NR, *sh = m0 + NR;                                           \
    const int8_t* wk = (const int8_t*)(sh + NR);                                            \
    for (size_t i = 0; i < mr; i++)                                                         \
      for (size_t j = 0; j < nc; j++) {                                                     \
        int32_t acc = bias[j];                                                              \
        for (size_t k = 0; k < kp; k++) {                                                   \
          const int32_t av = XOR ? (int32_t)(uint8_t)a[i * a_stride + k]                    \
                                 : (int32_t)a[i * a_stride + k];                            \
          acc = qe_wrap_add(acc, av * wk[(k / KR) * NR * KR + j * KR + k % KR]);            \
        }                                                                                   \
        c[i * c_stride + j] = (int8_t)qe_requant(acc, m0[j], sh[j], p->zo, p->qmin, p->qmax); \
      }                                                                                     \
  }                                                                                         \
  const qe_gemm_kernel NAME = {.name = #NAME, .isa = 0, .mr = MR, .nr = NR, .kr = KR,       \
                               .a_xor = XOR, .ukernel = NAME##_ukernel}

DEFINE_FAKE(qe_gemm_kernel__avx2, 3, 5, 4, 0x80);
DEFINE_FAKE(qe_gemm_kernel__avx512vnni, 7, 16, 8, 0);
