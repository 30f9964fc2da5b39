/* eq. 10 + eq. 5 with AVX-512, 16 outputs per step, masked tail. */
#include "eltwise/eltwise.h"

#include "common/requant__avx512.h"

/* b == NULL: every b is the value bc. */
static void vmul(size_t n, const int8_t* a, const int8_t* b, int32_t bc, int8_t* y,
                 const qe_qs8_mul_params* p) {
  const qe_requant_avx512 rq = qe_requant_avx512_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m512i za = _mm512_set1_epi32(p->za), zb = _mm512_set1_epi32(p->zb);
  const __m512i vbc = _mm512_set1_epi32(bc - p->zb);
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const __mmask16 m = qe_mask16(len);
    const __m512i va = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a)), za);
    __m512i vb = vbc;
    if (b) {
      vb = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b)), zb);
      b += len;
    }
    /* |acc| <= 255 * 255 < 2^16 */
    _mm_mask_storeu_epi8(y, m, qe_requant_avx512_16(_mm512_mullo_epi32(va, vb), &rq));
    a += len, y += len, n -= len;
  }
}

void qe_qs8_vmul_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                            int8_t* y, const qe_qs8_mul_params* p) {
  vmul(n, a, b, 0, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                             int8_t* y, const qe_qs8_mul_params* p) {
  vmul(n, a, NULL, *b, y, p);
}
