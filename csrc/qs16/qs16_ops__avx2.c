/* The 16x8 operator ukernels compiled for avx2 (see qs16_ops_impl.h); depthwise, add and
 * the pooling sums / maxima in AVX2 intrinsics (below), the rest from the plain C of the
 * impl. */
#include <immintrin.h>
#include <string.h>

#include "common/requant__avx2.h"
#include "qs16/qs16_ops.h"

static void dwconv_row_avx2(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                            const int16_t* w, const int64_t* bias, const int32_t* m0,
                            const int32_t* sh, int acc64, void* y, const qe_qs16_params* p);

static void add_avx2(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                     const qe_qs16_add_params* p);
static void addc_avx2(size_t n, const int16_t* a, int16_t b, int16_t* y,
                      const qe_qs16_add_params* p);
static void max_avx2(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
                     int32_t qmax);
static void sum_avx2(size_t c, size_t k, const int16_t* const* rows, int64_t* acc);

#define QE_QS16_DWCONV_ROW dwconv_row_avx2
#define QE_QS16_ADD add_avx2
#define QE_QS16_ADDC addc_avx2
#define QE_QS16_MAX max_avx2
#define QE_QS16_SUM sum_avx2
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
        qe_qs16_store_sums64(out, sums, 16, bias + c0, m0 + c0, sh + c0, p);
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

/* ---- add (eq. 23 as eq. 28), pooling ------------------------------------------------------ */

/* eq. 28 on 16 outputs: the AVX-512 kernel's scheme (qs16_ops__avx512vnni.c) with
 * vpmaddwd + vpaddd for vpdpwssd (a ka[i] + b kb[i] < 2^30: no overflow). b == NULL: the
 * zero vector (addc). */
static inline __attribute__((always_inline)) __m256i add16(__m256i va, __m256i vb,
                                                           const __m256i* k, const __m256i* c,
                                                           __m128i f, __m256i zo, __m256i lo,
                                                           __m256i hi) {
  const __m256i xl = _mm256_unpacklo_epi16(va, vb), xh = _mm256_unpackhi_epi16(va, vb);
  __m256i tl = _mm256_add_epi32(c[0], _mm256_madd_epi16(xl, k[0]));
  __m256i th = _mm256_add_epi32(c[0], _mm256_madd_epi16(xh, k[0]));
  for (int j = 1; j < 4; j++) {
    tl = _mm256_add_epi32(_mm256_add_epi32(c[j], _mm256_srai_epi32(tl, 14)),
                          _mm256_madd_epi16(xl, k[j]));
    th = _mm256_add_epi32(_mm256_add_epi32(c[j], _mm256_srai_epi32(th, 14)),
                          _mm256_madd_epi16(xh, k[j]));
  }
  tl = _mm256_add_epi32(_mm256_sra_epi32(tl, f), zo);
  th = _mm256_add_epi32(_mm256_sra_epi32(th, f), zo);
  /* unpack and pack both work within 128-bit lanes: natural order; the pack saturates */
  return _mm256_min_epi16(_mm256_max_epi16(_mm256_packs_epi32(tl, th), lo), hi);
}

static inline __attribute__((always_inline)) void add_rows(size_t n, const int16_t* a,
                                                           const int16_t* b, int16_t* y,
                                                           const qe_qs16_add_digits* d,
                                                           const qe_qs16_add_params* p) {
  __m256i k[4], c[4];
  for (int i = 0; i < 4; i++) {
    k[i] = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)d->ka[i] |
                                       ((uint32_t)(uint16_t)d->kb[i] << 16)));
    c[i] = _mm256_set1_epi32(d->c[i]);
  }
  const __m128i f = _mm_cvtsi32_si128(d->f);
  const __m256i zo = _mm256_set1_epi32(p->zo);
  const __m256i lo = _mm256_set1_epi16((int16_t)p->qmin), hi = _mm256_set1_epi16((int16_t)p->qmax);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i va = _mm256_loadu_si256((const __m256i*)(a + i));
    const __m256i vb = b ? _mm256_loadu_si256((const __m256i*)(b + i)) : _mm256_setzero_si256();
    _mm256_storeu_si256((__m256i*)(y + i), add16(va, vb, k, c, f, zo, lo, hi));
  }
  if (i < n) { /* tail through zero-padded copies: no access past n */
    int16_t ab[16] = {0}, bb[16] = {0}, yb[16];
    memcpy(ab, a + i, (n - i) * 2);
    if (b) memcpy(bb, b + i, (n - i) * 2);
    _mm256_storeu_si256((__m256i*)yb, add16(_mm256_loadu_si256((const __m256i*)ab),
                                            _mm256_loadu_si256((const __m256i*)bb), k, c, f,
                                            zo, lo, hi));
    memcpy(y + i, yb, (n - i) * 2);
  }
}

static void add_avx2(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                     const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, p->kb, p->bias, p->m0, p->sh, &d))
    add_rows(n, a, b, y, &d, p);
  else
    add_plain(n, a, b, y, p);
}

/* b one value: b kb + bias is the constant of eq. 28, kb = 0. */
static void addc_avx2(size_t n, const int16_t* a, int16_t b, int16_t* y,
                      const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, 0, p->bias + (int64_t)b * p->kb, p->m0, p->sh, &d))
    add_rows(n, a, NULL, y, &d, p);
  else
    addc_plain(n, a, b, y, p);
}

/* eq. 14 over k rows, 16 channels per step; the last c % 16 in plain C. */
static void max_avx2(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
                     int32_t qmax) {
  const __m256i lo = _mm256_set1_epi16((int16_t)qmin), hi = _mm256_set1_epi16((int16_t)qmax);
  size_t j = 0;
  for (; j + 16 <= c; j += 16) {
    __m256i v = _mm256_loadu_si256((const __m256i*)(rows[0] + j));
    for (size_t t = 1; t < k; t++)
      v = _mm256_max_epi16(v, _mm256_loadu_si256((const __m256i*)(rows[t] + j)));
    _mm256_storeu_si256((__m256i*)(y + j), _mm256_min_epi16(_mm256_max_epi16(v, lo), hi));
  }
  max_plain(j, c, k, rows, y, qmin, qmax);
}

/* acc += sum over k rows, 8 channels per step: the rows are summed in int32 (exact for up
 * to 65536 rows: |sum| <= 2^31), then added into the int64 accumulators; the last c % 8
 * in plain C. */
static void sum_avx2(size_t c, size_t k, const int16_t* const* rows, int64_t* acc) {
  const size_t cfull = c & ~(size_t)7;
  for (size_t t0 = 0; t0 < k; t0 += 65536) {
    const size_t t1 = QE_MIN(k, t0 + 65536);
    for (size_t j = 0; j < cfull; j += 8) {
      __m256i s = _mm256_setzero_si256();
      for (size_t t = t0; t < t1; t++)
        s = _mm256_add_epi32(s, _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i*)(rows[t] + j))));
      __m256i* q = (__m256i*)(acc + j);
      _mm256_storeu_si256(q, _mm256_add_epi64(_mm256_loadu_si256(q),
                                              _mm256_cvtepi32_epi64(_mm256_castsi256_si128(s))));
      _mm256_storeu_si256(q + 1, _mm256_add_epi64(_mm256_loadu_si256(q + 1),
                                                  _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s, 1))));
    }
  }
  sum_plain(cfull, c, k, rows, acc);
}
