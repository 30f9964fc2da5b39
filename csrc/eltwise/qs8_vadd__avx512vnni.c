/* eq. 9 + eq. 5 with AVX-512, 16 outputs per step, masked tail. */
#include "eltwise/eltwise.h"

#include "common/requant__avx512.h"

/* b == NULL: b is the broadcast value folded into bias. */
static void vadd(size_t n, const int8_t* a, const int8_t* b, int32_t bias, int8_t* y,
                 const qe_qs8_add_params* p) {
  const qe_requant_avx512 rq = qe_requant_avx512_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m512i ka = _mm512_set1_epi32(p->ka), kb = _mm512_set1_epi32(p->kb);
  const __m512i vbias = _mm512_set1_epi32(bias);
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const __mmask16 m = qe_mask16(len);
    const __m512i va = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a));
    __m512i acc = _mm512_add_epi32(_mm512_mullo_epi32(va, ka), vbias);
    if (b) {
      const __m512i vb = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b));
      acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(vb, kb));
      b += len;
    }
    _mm_mask_storeu_epi8(y, m, qe_requant_avx512_16(acc, &rq));
    a += len, y += len, n -= len;
  }
}

void qe_qs8_vadd_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                            int8_t* y, const qe_qs8_add_params* p) {
  vadd(n, a, b, p->bias, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                             int8_t* y, const qe_qs8_add_params* p) {
  vadd(n, a, NULL, p->bias + (int32_t)*b * p->kb, y, p);
}
