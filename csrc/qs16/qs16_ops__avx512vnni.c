/* The 16x8 operator ukernels compiled for avx512vnni (see qs16_ops_impl.h); depthwise, add
 * and the pooling sums / maxima in AVX-512 intrinsics (below), the rest from the plain C
 * of the impl with eq. 5 of the blocks in AVX-512 (64-bit lanes: vpmuldq, vpsllvq/vpsravq). */
#include <immintrin.h>

#include "common/requant__avx512.h"
#include "qs16/qs16_ops.h"

static void requant_block_avx512(size_t cb, const int32_t* acc, const int32_t* m0,
                                 const int32_t* sh, int32_t* out, const qe_qs16_params* p) {
  const __m512i lo = _mm512_set1_epi64((int64_t)p->qmin - p->zo);
  const __m512i hi = _mm512_set1_epi64((int64_t)p->qmax - p->zo);
  const __m512i one = _mm512_set1_epi64(1);
  const __m256i zo = _mm256_set1_epi32(p->zo);
  for (size_t j = 0; j < cb; j += 8) {
    const size_t left = cb - j;
    const __mmask8 k = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
    const __m512i a = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, acc + j));
    const __m512i m = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, m0 + j));
    const __m512i s = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, sh + j));
    __m512i x = _mm512_add_epi64(_mm512_mul_epi32(a, m),
                                 _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one)));
    x = _mm512_srav_epi64(x, s);
    x = _mm512_min_epi64(_mm512_max_epi64(x, lo), hi);
    _mm256_mask_storeu_epi32(out + j, k, _mm256_add_epi32(_mm512_cvtepi64_epi32(x), zo));
  }
}

static void dwconv_row_avx512(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                              const int16_t* w, const int64_t* bias, const int32_t* m0,
                              const int32_t* sh, int acc64, void* y, const qe_qs16_params* p);

static void add_avx512(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                       const qe_qs16_add_params* p);
static void addc_avx512(size_t n, const int16_t* a, int16_t b, int16_t* y,
                        const qe_qs16_add_params* p);
static void max_avx512(size_t c, size_t k, const int16_t* const* rows, int16_t* y,
                       int32_t qmin, int32_t qmax);
static void sum_avx512(size_t c, size_t k, const int16_t* const* rows, int64_t* acc);

#define QE_QS16_REQUANT_BLOCK requant_block_avx512
#define QE_QS16_ADD add_avx512
#define QE_QS16_ADDC addc_avx512
#define QE_QS16_MAX max_avx512
#define QE_QS16_SUM sum_avx512
#define QE_QS16_DWCONV_ROW dwconv_row_avx512
#define QE_QS16_OPS_TABLE qe_qs16_ops__avx512vnni
#define QE_QS16_OPS_NAME "avx512vnni"
#include "qs16/qs16_ops_impl.h"

/* Depthwise, 32 channels per step (eq. 20, then eq. 5). Two taps at a time: vpunpcklwd /
 * vpunpckhwd interleave the int16 inputs of taps t and t+1, and vpdpwssd adds
 * x_t w_t + x_t+1 w_t+1 into each int32 lane; the weights are interleaved the same way once
 * per call and channel block. The tap sum is exact in int32 for any weights: at most
 * 64 taps x 32768 x 127 < 2^28 (the int64 path only adds a large bias afterwards).
 * unpack works within 128-bit lanes, so the two accumulators hold channels
 * {0-3, 8-11, 16-19, 24-27} and {4-7, 12-15, 20-23, 28-31}; two vpermt2d restore natural
 * order, then eq. 5 is the GEMM's (requant__avx512.h) with a saturating masked store.
 * Channel tails use masked loads, so only the c channels behind each pointer are read. */
static inline __attribute__((always_inline)) void dw_row(
    size_t c, size_t pixels, const size_t taps, const int16_t* const* ind, const int16_t* w,
    const int64_t* bias, const int32_t* m0, const int32_t* sh, int acc64, void* y,
    const qe_qs16_params* p) {
  const size_t pairs = (taps + 1) / 2, esize = p->out8 ? 1 : 2;
  const qe_requant_out o = qe_requant_out_init(p->zo, p->qmin, p->qmax, p->out8);
  const __m512i idx0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i idx1 = _mm512_add_epi32(idx0, _mm512_set1_epi32(8));
  for (size_t c0 = 0; c0 < c; c0 += 32) {
    const size_t nc = QE_MIN((size_t)32, c - c0);
    const __mmask32 m = nc == 32 ? ~(__mmask32)0 : (((__mmask32)1 << nc) - 1);
    __m512i wl[QE_QS16_DW_MAX_TAPS / 2], wh[QE_QS16_DW_MAX_TAPS / 2];
    for (size_t q = 0; q < pairs; q++) {
      const __m512i wa = _mm512_maskz_loadu_epi16(m, w + 2 * q * c + c0);
      const __m512i wb = 2 * q + 1 < taps ? _mm512_maskz_loadu_epi16(m, w + (2 * q + 1) * c + c0)
                                          : _mm512_setzero_si512();
      wl[q] = _mm512_unpacklo_epi16(wa, wb);
      wh[q] = _mm512_unpackhi_epi16(wa, wb);
    }
    /* per-channel constants, padded past c so that full vectors can be read */
    int32_t b32[32], m0p[32], shp[32];
    for (size_t j = 0; j < 32; j++) {
      b32[j] = j < nc && !acc64 ? (int32_t)bias[c0 + j] : 0;
      m0p[j] = j < nc ? m0[c0 + j] : 0;
      shp[j] = j < nc ? sh[c0 + j] : 40;
    }
    const qe_requant_col r0 = qe_requant_col_load(m0p, shp, p->zo);
    const qe_requant_col r1 = qe_requant_col_load(m0p + 16, shp + 16, p->zo);
    const __m512i b0 = _mm512_loadu_si512(b32), b1 = _mm512_loadu_si512(b32 + 16);
    const __mmask16 m0k = (__mmask16)m, m1k = (__mmask16)(m >> 16);
    for (size_t px = 0; px < pixels; px++) {
      const int16_t* const* ip = ind + px * taps;
      __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
      for (size_t q = 0; q < pairs; q++) {
        const __m512i xa = _mm512_maskz_loadu_epi16(m, ip[2 * q] + c0);
        /* an odd last tap pairs with itself against zero weights */
        const __m512i xb = 2 * q + 1 < taps ? _mm512_maskz_loadu_epi16(m, ip[2 * q + 1] + c0) : xa;
        lo = _mm512_dpwssd_epi32(lo, _mm512_unpacklo_epi16(xa, xb), wl[q]);
        hi = _mm512_dpwssd_epi32(hi, _mm512_unpackhi_epi16(xa, xb), wh[q]);
      }
      const __m512i s0 = _mm512_permutex2var_epi32(lo, idx0, hi);
      const __m512i s1 = _mm512_permutex2var_epi32(lo, idx1, hi);
      uint8_t* out = (uint8_t*)y + (px * c + c0) * esize;
      if (!acc64) {
        qe_requant_col_store(_mm512_add_epi32(s0, b0), &r0, &o, out, m0k);
        if (nc > 16) qe_requant_col_store(_mm512_add_epi32(s1, b1), &r1, &o, out + 16 * esize, m1k);
      } else {
        int32_t sums[32];
        _mm512_storeu_si512(sums, s0);
        _mm512_storeu_si512(sums + 16, s1);
        qe_qs16_store_sums64(out, sums, nc, bias + c0, m0 + c0, sh + c0, p);
      }
    }
  }
}

static void dwconv_row_avx512(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                              const int16_t* w, const int64_t* bias, const int32_t* m0,
                              const int32_t* sh, int acc64, void* y, const qe_qs16_params* p) {
  /* 3x3 (every depthwise layer of MobileNetV2) with the tap count known: weights stay in
   * registers */
  if (taps == 9)
    dw_row(c, pixels, 9, ind, w, bias, m0, sh, acc64, y, p);
  else
    dw_row(c, pixels, taps, ind, w, bias, m0, sh, acc64, y, p);
}

/* ---- add (eq. 23 as eq. 28), pooling ------------------------------------------------------ */

static inline __mmask32 mask32(size_t len) {
  return len >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << len) - 1);
}

/* eq. 28, 32 outputs per step: vpunpck[lh]wd pairs (a, b) in each int32 lane and vpdpwssd
 * adds a ka[i] + b kb[i] of digit i to the carried sum. Unpack and vpackssdw both work
 * within 128-bit lanes, so the packed result is in natural order; the pack saturates to
 * int16, so clamping after it equals clamping before. b == NULL: the zero vector (addc). */
static inline __attribute__((always_inline)) void add_rows(size_t n, const int16_t* a,
                                                           const int16_t* b, int16_t* y,
                                                           const qe_qs16_add_digits* d,
                                                           const qe_qs16_add_params* p) {
  __m512i k[4], c[4];
  for (int i = 0; i < 4; i++) {
    k[i] = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)d->ka[i] |
                                       ((uint32_t)(uint16_t)d->kb[i] << 16)));
    c[i] = _mm512_set1_epi32(d->c[i]);
  }
  const __m128i f = _mm_cvtsi32_si128(d->f);
  const __m512i zo = _mm512_set1_epi32(p->zo);
  const __m512i lo = _mm512_set1_epi16((int16_t)p->qmin), hi = _mm512_set1_epi16((int16_t)p->qmax);
  for (size_t i = 0; i < n; i += 32) {
    const __mmask32 m = mask32(n - i);
    const __m512i va = _mm512_maskz_loadu_epi16(m, a + i);
    const __m512i vb = b ? _mm512_maskz_loadu_epi16(m, b + i) : _mm512_setzero_si512();
    const __m512i xl = _mm512_unpacklo_epi16(va, vb), xh = _mm512_unpackhi_epi16(va, vb);
    __m512i tl = _mm512_dpwssd_epi32(c[0], xl, k[0]);
    __m512i th = _mm512_dpwssd_epi32(c[0], xh, k[0]);
    for (int j = 1; j < 4; j++) {
      tl = _mm512_dpwssd_epi32(_mm512_add_epi32(c[j], _mm512_srai_epi32(tl, 14)), xl, k[j]);
      th = _mm512_dpwssd_epi32(_mm512_add_epi32(c[j], _mm512_srai_epi32(th, 14)), xh, k[j]);
    }
    tl = _mm512_add_epi32(_mm512_sra_epi32(tl, f), zo);
    th = _mm512_add_epi32(_mm512_sra_epi32(th, f), zo);
    const __m512i out = _mm512_packs_epi32(tl, th);
    _mm512_mask_storeu_epi16(y + i, m, _mm512_min_epi16(_mm512_max_epi16(out, lo), hi));
  }
}

static void add_avx512(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                       const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, p->kb, p->bias, p->m0, p->sh, &d))
    add_rows(n, a, b, y, &d, p);
  else
    add_plain(n, a, b, y, p);
}

/* b one value: b kb + bias is the constant of eq. 28, kb = 0. */
static void addc_avx512(size_t n, const int16_t* a, int16_t b, int16_t* y,
                        const qe_qs16_add_params* p) {
  qe_qs16_add_digits d;
  if (qe_qs16_add_digits_init(p->ka, 0, p->bias + (int64_t)b * p->kb, p->m0, p->sh, &d))
    add_rows(n, a, NULL, y, &d, p);
  else
    addc_plain(n, a, b, y, p);
}

/* eq. 14 over k rows, 32 channels per step, masked tail. */
static void max_avx512(size_t c, size_t k, const int16_t* const* rows, int16_t* y,
                       int32_t qmin, int32_t qmax) {
  const __m512i lo = _mm512_set1_epi16((int16_t)qmin), hi = _mm512_set1_epi16((int16_t)qmax);
  for (size_t j = 0; j < c; j += 32) {
    const __mmask32 m = mask32(c - j);
    __m512i v = _mm512_maskz_loadu_epi16(m, rows[0] + j);
    for (size_t t = 1; t < k; t++) v = _mm512_max_epi16(v, _mm512_maskz_loadu_epi16(m, rows[t] + j));
    _mm512_mask_storeu_epi16(y + j, m, _mm512_min_epi16(_mm512_max_epi16(v, lo), hi));
  }
}

/* acc += sum over k rows, 16 channels per step: the rows are summed in int32 (exact for
 * up to 65536 rows: |sum| <= 2^31), then added into the int64 accumulators. */
static void sum_avx512(size_t c, size_t k, const int16_t* const* rows, int64_t* acc) {
  for (size_t t0 = 0; t0 < k; t0 += 65536) {
    const size_t t1 = QE_MIN(k, t0 + 65536);
    for (size_t j = 0; j < c; j += 16) {
      const size_t len = QE_MIN((size_t)16, c - j);
      const __mmask16 m = (__mmask16)(len >= 16 ? 0xFFFF : (1u << len) - 1);
      __m512i s = _mm512_setzero_si512();
      for (size_t t = t0; t < t1; t++)
        s = _mm512_add_epi32(s, _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, rows[t] + j)));
      const __mmask8 m0 = (__mmask8)m, m1 = (__mmask8)(m >> 8);
      const __m512i s0 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(s));
      const __m512i s1 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1));
      _mm512_mask_storeu_epi64(acc + j, m0,
                               _mm512_add_epi64(_mm512_maskz_loadu_epi64(m0, acc + j), s0));
      _mm512_mask_storeu_epi64(acc + j + 8, m1,
                               _mm512_add_epi64(_mm512_maskz_loadu_epi64(m1, acc + j + 8), s1));
    }
  }
}
