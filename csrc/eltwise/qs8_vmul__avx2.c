/* eq. 10 + eq. 5 with AVX2, 32 outputs per step (a short tail through a stack copy). */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__avx2.h"

static inline __m256i load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

/* b == NULL: every b is the value bc. */
static void vmul(size_t n, const int8_t* a, const int8_t* b, int32_t bc, int8_t* y,
                 const qe_qs8_mul_params* p) {
  const qe_requant_avx2 rq = qe_requant_avx2_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m256i za = _mm256_set1_epi32(p->za), zb = _mm256_set1_epi32(p->zb);
  const __m256i vbc = _mm256_set1_epi32(bc - p->zb);
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
      const __m256i va = _mm256_sub_epi32(load8(pa + 8 * k), za);
      const __m256i vb = pb ? _mm256_sub_epi32(load8(pb + 8 * k), zb) : vbc;
      r[k] = qe_requant_avx2_8(_mm256_mullo_epi32(va, vb), &rq); /* |acc| < 2^16 */
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

void qe_qs8_vmul_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_mul_params* p) {
  vmul(n, a, b, 0, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_mul_params* p) {
  vmul(n, a, NULL, *b, y, p);
}
