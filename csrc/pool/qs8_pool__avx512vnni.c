/* eq. 14 (max pool) and eq. 15 / 16 (average pool) with AVX-512, over channels,
 * masked tails. */
#include "pool/pool.h"

#include "common/requant__avx512.h"

void qe_qs8_maxpool_minmax_ukernel__avx512vnni(size_t channels, size_t k,
                                               const int8_t* const* rows, int8_t* y,
                                               int32_t qmin, int32_t qmax) {
  const __m512i lo = _mm512_set1_epi8((char)qmin), hi = _mm512_set1_epi8((char)qmax);
  for (size_t c = 0; c < channels; c += 64) {
    const __mmask64 m = qe_mask64(channels - c);
    __m512i v = _mm512_maskz_loadu_epi8(m, rows[0] + c);
    for (size_t j = 1; j < k; j++) v = _mm512_max_epi8(v, _mm512_maskz_loadu_epi8(m, rows[j] + c));
    _mm512_mask_storeu_epi8(y + c, m, _mm512_min_epi8(_mm512_max_epi8(v, lo), hi));
  }
}

void qe_qs8_avgpool_minmax_ukernel__avx512vnni(size_t rows, size_t cols, size_t c,
                                               const int8_t* x, size_t row_stride,
                                               size_t col_stride, int8_t* y,
                                               const qe_qs8_gavgpool_params* p) {
  const qe_requant_avx512 rq = qe_requant_avx512_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m512i bias = _mm512_set1_epi32(p->bias);
  size_t ch = 0;
  for (; ch + 64 <= c; ch += 64) {
    __m512i a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (size_t i = 0; i < rows; i++) /* |acc| <= 255 rows cols < 2^31 */
      for (size_t j = 0; j < cols; j++) {
        const int8_t* r = x + i * row_stride + j * col_stride + ch;
        a0 = _mm512_add_epi32(a0, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)r)));
        a1 = _mm512_add_epi32(a1, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(r + 16))));
        a2 = _mm512_add_epi32(a2, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(r + 32))));
        a3 = _mm512_add_epi32(a3, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(r + 48))));
      }
    _mm_storeu_si128((__m128i*)(y + ch), qe_requant_avx512_16(a0, &rq));
    _mm_storeu_si128((__m128i*)(y + ch + 16), qe_requant_avx512_16(a1, &rq));
    _mm_storeu_si128((__m128i*)(y + ch + 32), qe_requant_avx512_16(a2, &rq));
    _mm_storeu_si128((__m128i*)(y + ch + 48), qe_requant_avx512_16(a3, &rq));
  }
  for (; ch < c; ch += 16) {
    const __mmask16 m = qe_mask16(c - ch);
    __m512i a0 = bias;
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < cols; j++) {
        const __m128i v = _mm_maskz_loadu_epi8(m, x + i * row_stride + j * col_stride + ch);
        a0 = _mm512_add_epi32(a0, _mm512_cvtepi8_epi32(v));
      }
    _mm_mask_storeu_epi8(y + ch, m, qe_requant_avx512_16(a0, &rq));
  }
}
