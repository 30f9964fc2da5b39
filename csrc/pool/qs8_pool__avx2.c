/* eq. 14 (max pool) and eq. 15 / 16 (average pool) with AVX2, vectorized over channels. */
#include "pool/pool.h"

#include "common/requant__avx2.h"

void qe_qs8_maxpool_minmax_ukernel__avx2(size_t channels, size_t k, const int8_t* const* rows,
                                         int8_t* y, int32_t qmin, int32_t qmax) {
  const __m256i lo = _mm256_set1_epi8((char)qmin), hi = _mm256_set1_epi8((char)qmax);
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m256i m = _mm256_loadu_si256((const __m256i*)(rows[0] + c));
    for (size_t j = 1; j < k; j++)
      m = _mm256_max_epi8(m, _mm256_loadu_si256((const __m256i*)(rows[j] + c)));
    _mm256_storeu_si256((__m256i*)(y + c), _mm256_min_epi8(_mm256_max_epi8(m, lo), hi));
  }
  for (; c + 16 <= channels; c += 16) {
    __m128i m = _mm_loadu_si128((const __m128i*)(rows[0] + c));
    for (size_t j = 1; j < k; j++)
      m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i*)(rows[j] + c)));
    m = _mm_min_epi8(_mm_max_epi8(m, _mm256_castsi256_si128(lo)), _mm256_castsi256_si128(hi));
    _mm_storeu_si128((__m128i*)(y + c), m);
  }
  for (; c < channels; c++) {
    int32_t m = rows[0][c];
    for (size_t j = 1; j < k; j++) m = QE_MAX(m, (int32_t)rows[j][c]);
    y[c] = (int8_t)QE_MIN(QE_MAX(m, qmin), qmax);
  }
}

static inline __m256i load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

void qe_qs8_avgpool_minmax_ukernel__avx2(size_t rows, size_t cols, size_t c, const int8_t* x,
                                         size_t row_stride, size_t col_stride, int8_t* y,
                                         const qe_qs8_gavgpool_params* p) {
  const qe_requant_avx2 rq = qe_requant_avx2_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const __m256i bias = _mm256_set1_epi32(p->bias);
  size_t ch = 0;
  for (; ch + 32 <= c; ch += 32) {
    __m256i a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (size_t i = 0; i < rows; i++) /* |acc| <= 255 rows cols < 2^31 */
      for (size_t j = 0; j < cols; j++) {
        const int8_t* r = x + i * row_stride + j * col_stride + ch;
        a0 = _mm256_add_epi32(a0, load8(r));
        a1 = _mm256_add_epi32(a1, load8(r + 8));
        a2 = _mm256_add_epi32(a2, load8(r + 16));
        a3 = _mm256_add_epi32(a3, load8(r + 24));
      }
    _mm256_storeu_si256((__m256i*)(y + ch),
                        qe_pack_avx2_32(qe_requant_avx2_8(a0, &rq), qe_requant_avx2_8(a1, &rq),
                                        qe_requant_avx2_8(a2, &rq), qe_requant_avx2_8(a3, &rq)));
  }
  for (; ch + 8 <= c; ch += 8) {
    __m256i a0 = bias;
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < cols; j++)
        a0 = _mm256_add_epi32(a0, load8(x + i * row_stride + j * col_stride + ch));
    _mm_storel_epi64((__m128i*)(y + ch), qe_pack_avx2_8(qe_requant_avx2_8(a0, &rq)));
  }
  if (ch < c)
    qe_qs8_avgpool_minmax_ukernel__scalar(rows, cols, c - ch, x + ch, row_stride, col_stride,
                                          y + ch, p);
}
