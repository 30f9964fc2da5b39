/* eq. 9 + eq. 5 with AVX2, 32 outputs per step: acc = a * ka + b * kb + bias in int32
 * (|acc| < 2^29), requantized by the shared AVX2 eq. 5 (common/requant__avx2.h). */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__avx2.h"

static inline __m256i load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

/* b == NULL: b is the broadcast value folded into bias. */
static void vadd(size_t n, const int8_t* a, const int8_t* b, int32_t bias, int8_t* y,
                 const qe_qs8_add_params* p) {
  const qe_requant_avx2 rq = qe_requant_avx2_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m256i ka = _mm256_set1_epi32(p->ka), kb = _mm256_set1_epi32(p->kb);
  const __m256i vbias = _mm256_set1_epi32(bias);
  int8_t abuf[32], bbuf[32], ybuf[32];
  while (n > 0) {
    const size_t len = n < 32 ? n : 32;
    const int8_t *pa = a, *pb = b;
    if (len < 32) {
      memset(abuf, 0, 32), memset(bbuf, 0, 32);
      memcpy(abuf, a, len);
      if (b) memcpy(bbuf, b, len);
      pa = abuf, pb = b ? bbuf : NULL;
    }
    __m256i r[4];
    for (int k = 0; k < 4; k++) {
      __m256i acc = _mm256_add_epi32(_mm256_mullo_epi32(load8(pa + 8 * k), ka), vbias);
      if (pb) acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(load8(pb + 8 * k), kb));
      r[k] = qe_requant_avx2_8(acc, &rq);
    }
    const __m256i out = qe_pack_avx2_32(r[0], r[1], r[2], r[3]);
    if (len < 32) {
      _mm256_storeu_si256((__m256i*)ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      _mm256_storeu_si256((__m256i*)y, out);
    }
    a += len, y += len, n -= len;
    if (b) b += len;
  }
}

void qe_qs8_vadd_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_add_params* p) {
  vadd(n, a, b, p->bias, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_add_params* p) {
  vadd(n, a, NULL, p->bias + (int32_t)*b * p->kb, y, p);
}
