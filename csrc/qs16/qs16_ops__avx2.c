/* The 16x8 operator ukernels compiled for avx2 (see qs16_ops_impl.h); depthwise in AVX2
 * intrinsics (dwconv_row_avx2 below), the rest from the plain C of the impl. */
#include <immintrin.h>

#include "common/requant__avx2.h"
#include "qs16/qs16_ops.h"

static void dwconv_row_avx2(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                            const int16_t* w, const int64_t* bias, const int32_t* m0,
                            const int32_t* sh, int acc64, void* y, const qe_qs16_params* p);

#define QE_QS16_DWCONV_ROW dwconv_row_avx2
#define QE_QS16_OPS_TABLE qe_qs16_ops__avx2
#define QE_QS16_OPS_NAME "avx2"
#include "qs16/qs16_ops_impl.h"

/* Depthwise, 16 channels per step: the AVX-512 kernel's scheme (qs16_ops__avx512vnni.c) on
 * 256-bit vectors, with vpmaddwd + vpaddd for vpdpwssd (x_t w_t + x_t+1 w_t+1 cannot
 * overflow: |w| <= 127). The accumulators hold channels {0-3, 8-11} and {4-7, 12-15};
 * vperm2i128 restores natural order; eq. 5 per channel is eq. 6 of requant__avx2.h. The
 * last c % 16 channels run the plain C of the impl (dw_channels), so no load passes c. */
static inline __attribute__((always_inline)) void dw_row(
    size_t c, size_t pixels, const size_t taps, const int16_t* const* ind, const int16_t* w,
    const int64_t* bias, const int32_t* m0, const int32_t* sh, int acc64, void* y,
    const qe_qs16_params* p) {
  const size_t pairs = (taps + 1) / 2, esize = p->out8 ? 1 : 2, cfull = c & ~(size_t)15;
  const __m256i zo = _mm256_set1_epi32(p->zo);
  for (size_t c0 = 0; c0 < cfull; c0 += 16) {
    __m256i wl[QE_QS16_DW_MAX_TAPS / 2], wh[QE_QS16_DW_MAX_TAPS / 2];
    for (size_t q = 0; q < pairs; q++) {
      const __m256i wa = _mm256_loadu_si256((const __m256i*)(w + 2 * q * c + c0));
      const __m256i wb = 2 * q + 1 < taps
                             ? _mm256_loadu_si256((const __m256i*)(w + (2 * q + 1) * c + c0))
                             : _mm256_setzero_si256();
      wl[q] = _mm256_unpacklo_epi16(wa, wb);
      wh[q] = _mm256_unpackhi_epi16(wa, wb);
    }
    const qe_requant_avx2_col r0 = qe_requant_avx2_col_load(m0 + c0, sh + c0, p->zo, p->qmin,
                                                            p->qmax);
    const qe_requant_avx2_col r1 = qe_requant_avx2_col_load(m0 + c0 + 8, sh + c0 + 8, p->zo,
                                                            p->qmin, p->qmax);
    __m256i b0 = _mm256_setzero_si256(), b1 = b0;
    if (!acc64) { /* eq. 21 holds: the bias fits in int32 */
      int32_t b32[16];
      for (size_t j = 0; j < 16; j++) b32[j] = (int32_t)bias[c0 + j];
      b0 = _mm256_loadu_si256((const __m256i*)b32);
      b1 = _mm256_loadu_si256((const __m256i*)(b32 + 8));
    }
    for (size_t px = 0; px < pixels; px++) {
      const int16_t* const* ip = ind + px * taps;
      __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
      for (size_t q = 0; q < pairs; q++) {
        const __m256i xa = _mm256_loadu_si256((const __m256i*)(ip[2 * q] + c0));
        /* an odd last tap pairs with itself against zero weights */
        const __m256i xb =
            2 * q + 1 < taps ? _mm256_loadu_si256((const __m256i*)(ip[2 * q + 1] + c0)) : xa;
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wl[q]));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), wh[q]));
      }
      const __m256i s0 = _mm256_permute2x128_si256(lo, hi, 0x20); /* channels 0-7 */
      const __m256i s1 = _mm256_permute2x128_si256(lo, hi, 0x31); /* channels 8-15 */
      uint8_t* out = (uint8_t*)y + (px * c + c0) * esize;
      if (!acc64) {
        qe_store8_avx2(out, 8, qe_requant_avx2_col8(_mm256_add_epi32(s0, b0), &r0, zo), p->out8);
        qe_store8_avx2(out + 8 * esize, 8,
                       qe_requant_avx2_col8(_mm256_add_epi32(s1, b1), &r1, zo), p->out8);
      } else { /* exact int32 tap sums (< 2^28) + the int64 bias */
        int32_t sums[16];
        _mm256_storeu_si256((__m256i*)sums, s0);
        _mm256_storeu_si256((__m256i*)(sums + 8), s1);
        for (size_t j = 0; j < 16; j++)
          qe_qs16_store1(out, j, qe_qs16_requant64(sums[j] + bias[c0 + j], m0[c0 + j],
                                                   sh[c0 + j], p->zo, p->qmin, p->qmax),
                         p->out8);
      }
    }
  }
  if (cfull < c)
    for (size_t px = 0; px < pixels; px++)
      dw_channels(cfull, c, c, taps, ind + px * taps, w, bias, m0, sh, acc64,
                  (uint8_t*)y + px * c * esize, p);
}

static void dwconv_row_avx2(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                            const int16_t* w, const int64_t* bias, const int32_t* m0,
                            const int32_t* sh, int acc64, void* y, const qe_qs16_params* p) {
  if (taps == 9) /* 3x3: the tap count known, weights stay in registers */
    dw_row(c, pixels, 9, ind, w, bias, m0, sh, acc64, y, p);
  else
    dw_row(c, pixels, taps, ind, w, bias, m0, sh, acc64, y, p);
}
