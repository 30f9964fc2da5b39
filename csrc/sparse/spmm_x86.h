/* SSE4.1 helpers shared by the x86 sparse variants (qs8_spmm__avx2.c, __avx512vnni.c);
 * included only by those files, which are compiled with flags that imply SSE4.1.
 *
 * Both directions of the layout change go through one 16 x 16 byte transpose:
 *  - in:  16 positions x 16 columns of A -> 16 rows of `at` (sign-extended to int16);
 *  - out: 16 channels x 16 positions of requantized results -> 16 rows of C [M, N]. */
#ifndef QE_SPMM_X86_H
#define QE_SPMM_X86_H

#include <immintrin.h>
#include <string.h>

#include "sparse/spmm.h"

/* x[r] byte c -> x[c] byte r, in four rounds of interleaves (8, 16, 32, 64 bits). */
static inline void qe_spmm_tr16x16(__m128i x[16]) {
  __m128i a[8], b[8], cq[4][4], d[2][8];
  for (int p = 0; p < 8; p++) {
    a[p] = _mm_unpacklo_epi8(x[2 * p], x[2 * p + 1]); /* columns 0-7 of rows 2p, 2p+1 */
    b[p] = _mm_unpackhi_epi8(x[2 * p], x[2 * p + 1]); /* columns 8-15 */
  }
  for (int q = 0; q < 4; q++) { /* rows 4q .. 4q+3, columns by groups of 4 */
    cq[q][0] = _mm_unpacklo_epi16(a[2 * q], a[2 * q + 1]);
    cq[q][1] = _mm_unpackhi_epi16(a[2 * q], a[2 * q + 1]);
    cq[q][2] = _mm_unpacklo_epi16(b[2 * q], b[2 * q + 1]);
    cq[q][3] = _mm_unpackhi_epi16(b[2 * q], b[2 * q + 1]);
  }
  for (int o = 0; o < 2; o++) /* rows 8o .. 8o+7, columns by pairs */
    for (int g = 0; g < 4; g++) {
      d[o][2 * g] = _mm_unpacklo_epi32(cq[2 * o][g], cq[2 * o + 1][g]);
      d[o][2 * g + 1] = _mm_unpackhi_epi32(cq[2 * o][g], cq[2 * o + 1][g]);
    }
  for (int h = 0; h < 8; h++) {
    x[2 * h] = _mm_unpacklo_epi64(d[0][h], d[1][h]);
    x[2 * h + 1] = _mm_unpackhi_epi64(d[0][h], d[1][h]);
  }
}

/* qe_spmm_transpose_fn: positions [m0, m0 + 32) of A into at, zero past M. */
static inline void qe_spmm_transpose_x86(size_t m0, size_t m, size_t k, const int8_t* a,
                                         size_t a_stride, int16_t* at, size_t at_stride) {
  const size_t mc = QE_MIN((size_t)QE_SPMM_MP, m - m0);
  for (size_t h = 0; h < QE_SPMM_MP; h += 16) {
    const size_t rows = mc > h ? QE_MIN((size_t)16, mc - h) : 0;
    const int8_t* src = a + (m0 + h) * a_stride;
    int16_t* dst = at + m0 + h;
    size_t k0 = 0;
    for (; k0 + 16 <= k; k0 += 16) {
      __m128i x[16];
      for (size_t r = 0; r < 16; r++)
        x[r] = r < rows ? _mm_loadu_si128((const __m128i*)(src + r * a_stride + k0))
                        : _mm_setzero_si128();
      qe_spmm_tr16x16(x);
      for (size_t cc = 0; cc < 16; cc++) {
        int16_t* d = dst + (k0 + cc) * at_stride;
        _mm_storeu_si128((__m128i*)d, _mm_cvtepi8_epi16(x[cc]));
        _mm_storeu_si128((__m128i*)(d + 8), _mm_cvtepi8_epi16(_mm_srli_si128(x[cc], 8)));
      }
    }
    for (; k0 < k; k0++)
      for (size_t r = 0; r < 16; r++)
        dst[k0 * at_stride + r] = r < rows ? src[r * a_stride + k0] : 0;
  }
}

/* nc channel rows of 16 result bytes (positions m .. m+15) at buf + j * buf_stride ->
 * the first mt positions of C, channels n0 .. n0+nc-1 (c points at C[m, n0]). */
static inline void qe_spmm_store_x86(const int8_t* buf, size_t buf_stride, size_t nc,
                                     size_t mt, int8_t* c, size_t c_stride) {
  for (size_t g = 0; g < nc; g += 16) {
    const size_t gc = QE_MIN((size_t)16, nc - g);
    __m128i x[16];
    for (size_t r = 0; r < 16; r++)
      x[r] = r < gc ? _mm_loadu_si128((const __m128i*)(buf + (g + r) * buf_stride))
                    : _mm_setzero_si128();
    qe_spmm_tr16x16(x);
    for (size_t i = 0; i < mt; i++) {
      if (gc == 16) {
        _mm_storeu_si128((__m128i*)(c + i * c_stride + g), x[i]);
      } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i*)tmp, x[i]);
        memcpy(c + i * c_stride + g, tmp, gc);
      }
    }
  }
}

/* Matrix-vector, BR = 4: one pair of blocks is 8 int16 weights {w_j,a, w_j,b} (j = 0..3)
 * and one vpmaddwd by the broadcast activation pair {a[k_a], a[k_b]} adds all four
 * channels' x_a * w_j,a + x_b * w_j,b at once. */
static inline void qe_spmm_mv4_x86(const qe_spmm_w* W, size_t r0, size_t r1, const int8_t* a,
                                   int8_t* c, const qe_spmm_params* p) {
  for (size_t r = r0; r < r1; r++) {
    __m128i acc = _mm_loadu_si128((const __m128i*)(W->bias + 4 * r));
    for (int32_t q = W->pptr[r]; q < W->pptr[r + 1]; q++) {
      const uint32_t x = (uint16_t)(int16_t)a[W->pidx[2 * q]] |
                         (uint32_t)(uint16_t)(int16_t)a[W->pidx[2 * q + 1]] << 16;
      const __m128i w = _mm_loadu_si128((const __m128i*)(W->pw + (size_t)q * 8));
      acc = _mm_add_epi32(acc, _mm_madd_epi16(w, _mm_set1_epi32((int32_t)x)));
    }
    int32_t s[4];
    _mm_storeu_si128((__m128i*)s, acc);
    for (size_t j = 0; j < 4 && 4 * r + j < W->n; j++) {
      const size_t n = 4 * r + j;
      c[n] = (int8_t)qe_requant(s[j], W->m0[n], W->sh[n], p->zo, p->qmin, p->qmax);
    }
  }
}

#endif
