/* eq. 5 on 8 int32 lanes with AVX2, for the *__avx2.c files only (needs -mavx2).
 *
 * AVX2 has a 32x32->64 multiply (vpmuldq, even lanes) but no 64-bit arithmetic shift, so
 * eq. 6 is used: u = (acc * m0 + 2^(sh-1) + 2^62) >>> sh = floor(...) + 2^(62-sh) with a
 * logical shift, exact because the sum is non-negative (and below 2^64). The clamp to
 * [qmin - zo, qmax - zo] is done on u, in 64 bits, before anything is narrowed, so every
 * (m0, sh) of the contract gives exactly what qe_requant() gives. With one multiplier for
 * all lanes (qe_requant_avx2), 33 <= sh <= sh_max(zo) takes the 32-bit form instead. */
#ifndef QE_REQUANT_AVX2_H
#define QE_REQUANT_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/qe_common.h"

typedef struct {
  __m256i m0, rnd, lo, hi, out_bias;
  __m128i shift;
  /* the 32-bit form (high): 33 <= sh <= sh_max(zo), as qe_requant_col_high of AVX-512 */
  int high;
  __m256i rnd32, shift32, qmin, qmax;
} qe_requant_avx2;

static inline qe_requant_avx2 qe_requant_avx2_init(int32_t m0, int32_t sh, int32_t zo,
                                                   int32_t qmin, int32_t qmax) {
  const int64_t off = (int64_t)1 << (62 - sh);
  qe_requant_avx2 r;
  r.high = sh >= 33 && sh <= qe_requant_sh_max(zo);
  r.rnd32 = _mm256_set1_epi32(r.high ? (int32_t)(((int64_t)1 << (sh - 33)) +
                                                  (int64_t)zo * ((int64_t)1 << (sh - 32)))
                                     : 0);
  r.shift32 = _mm256_set1_epi32(sh - 32);
  r.qmin = _mm256_set1_epi32(qmin);
  r.qmax = _mm256_set1_epi32(qmax);
  r.m0 = _mm256_set1_epi64x(m0);
  r.rnd = _mm256_set1_epi64x(((int64_t)1 << 62) + ((int64_t)1 << (sh - 1)));
  r.lo = _mm256_set1_epi64x(off + qmin - zo);
  r.hi = _mm256_set1_epi64x(off + qmax - zo);
  r.out_bias = _mm256_set1_epi32((int32_t)(uint32_t)((uint64_t)(int64_t)zo - (uint64_t)off));
  r.shift = _mm_cvtsi32_si128(sh);
  return r;
}

static inline __m256i qe_requant_avx2_half(__m256i acc_even, const qe_requant_avx2* r) {
  __m256i u = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epi32(acc_even, r->m0), r->rnd),
                               r->shift);
  u = _mm256_blendv_epi8(u, r->lo, _mm256_cmpgt_epi64(r->lo, u));
  return _mm256_blendv_epi8(u, r->hi, _mm256_cmpgt_epi64(u, r->hi));
}

/* The 32-bit form of eq. 5, for 33 <= sh <= sh_max(zo): with p = acc * m0 = P 2^32 + L
 * (0 <= L < 2^32), (p + 2^(sh-1)) >> sh == (P + 2^(sh-33)) >> (sh - 32) exactly (L cannot
 * carry), and zo 2^(sh-32) added before the shift adds zo after it; |P| <= 2^30, so the sum
 * fits int32 (docs/QUANTIZATION.md, eq. 5). m0 in the low int32 of each 64-bit lane (what
 * vpmuldq reads), rnd32 = 2^(sh-33) + zo 2^(sh-32), shift32 = sh - 32 (vpsravd by a vector:
 * 1 uop, vpsrad by an xmm count: 2). Returns y + zo, unclamped. */
static inline __m256i qe_requant_avx2_high32(__m256i acc, __m256i m0, __m256i rnd32,
                                             __m256i shift32) {
  const __m256i even = _mm256_mul_epi32(acc, m0);
  const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), m0);
  const __m256i p = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  return _mm256_srav_epi32(_mm256_add_epi32(p, rnd32), shift32);
}

/* 8 int32 accumulators -> 8 int32 outputs in [qmin, qmax]: the 32-bit form when r->high. */
static inline __m256i qe_requant_avx2_8(__m256i acc, const qe_requant_avx2* r) {
  if (r->high) {
    const __m256i y = qe_requant_avx2_high32(acc, r->m0, r->rnd32, r->shift32);
    return _mm256_min_epi32(_mm256_max_epi32(y, r->qmin), r->qmax);
  }
  const __m256i even = qe_requant_avx2_half(acc, r);
  const __m256i odd = qe_requant_avx2_half(_mm256_srli_epi64(acc, 32), r);
  const __m256i y = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  return _mm256_add_epi32(y, r->out_bias);
}

/* 4 x 8 int32 (already in int8 range) -> 32 int8 in order. */
static inline __m256i qe_pack_avx2_32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 8 int32 (already in int8 range) -> 8 int8 in the low 8 bytes. */
static inline __m128i qe_pack_avx2_8(__m256i a) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  return _mm_packs_epi16(w, w);
}

/* ---- per-channel eq. 6 (one m0/sh per lane), for GEMM-like kernels ---- */
#define QE_AVX2_INLINE static inline __attribute__((always_inline))

typedef struct {
  __m256i m0, m0_odd, sh_even, sh_odd, rnd_even, rnd_odd, off_even, off_odd;
  __m256i lo_even, lo_odd, hi_even, hi_odd;
} qe_requant_avx2_col;

/* Constants of 8 channels m0[0..7], sh[0..7] (8 int32 each are read). */
QE_AVX2_INLINE qe_requant_avx2_col qe_requant_avx2_col_load(const int32_t* m0, const int32_t* sh,
                                                           int32_t zo, int32_t qmin,
                                                           int32_t qmax) {
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFF), one = _mm256_set1_epi64x(1);
  const __m256i two62 = _mm256_set1_epi64x((int64_t)1 << 62), s62 = _mm256_set1_epi64x(62);
  const __m256i lo = _mm256_set1_epi64x((int64_t)qmin - zo);
  const __m256i hi = _mm256_set1_epi64x((int64_t)qmax - zo);
  const __m256i vs = _mm256_loadu_si256((const __m256i*)sh);
  qe_requant_avx2_col r;
  r.m0 = _mm256_loadu_si256((const __m256i*)m0);
  r.m0_odd = _mm256_srli_epi64(r.m0, 32);
  r.sh_even = _mm256_and_si256(vs, low32);
  r.sh_odd = _mm256_srli_epi64(vs, 32);
  r.rnd_even = _mm256_add_epi64(two62, _mm256_sllv_epi64(one, _mm256_sub_epi64(r.sh_even, one)));
  r.rnd_odd = _mm256_add_epi64(two62, _mm256_sllv_epi64(one, _mm256_sub_epi64(r.sh_odd, one)));
  r.off_even = _mm256_sllv_epi64(one, _mm256_sub_epi64(s62, r.sh_even));
  r.off_odd = _mm256_sllv_epi64(one, _mm256_sub_epi64(s62, r.sh_odd));
  r.lo_even = _mm256_add_epi64(r.off_even, lo);
  r.lo_odd = _mm256_add_epi64(r.off_odd, lo);
  r.hi_even = _mm256_add_epi64(r.off_even, hi);
  r.hi_odd = _mm256_add_epi64(r.off_odd, hi);
  return r;
}

QE_AVX2_INLINE __m256i qe_requant_avx2_col_half(__m256i acc, __m256i m0, __m256i rnd,
                                                __m256i sh, __m256i lo, __m256i hi,
                                                __m256i off) {
  __m256i u = _mm256_srlv_epi64(_mm256_add_epi64(_mm256_mul_epi32(acc, m0), rnd), sh);
  u = _mm256_blendv_epi8(u, lo, _mm256_cmpgt_epi64(lo, u));
  u = _mm256_blendv_epi8(u, hi, _mm256_cmpgt_epi64(u, hi));
  return _mm256_sub_epi64(u, off);
}

/* 8 int32 accumulators -> 8 int32 y + zo in [qmin, qmax]. */
QE_AVX2_INLINE __m256i qe_requant_avx2_col8(__m256i acc, const qe_requant_avx2_col* r,
                                            __m256i zo) {
  const __m256i even = qe_requant_avx2_col_half(acc, r->m0, r->rnd_even, r->sh_even,
                                                r->lo_even, r->hi_even, r->off_even);
  const __m256i odd = qe_requant_avx2_col_half(_mm256_srli_epi64(acc, 32), r->m0_odd,
                                               r->rnd_odd, r->sh_odd, r->lo_odd, r->hi_odd,
                                               r->off_odd);
  return _mm256_add_epi32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA), zo);
}

/* The first cols (<= 8) of 8 int32 already in range, stored as int8 (out8) or int16. */
QE_AVX2_INLINE void qe_store8_avx2(void* c, size_t cols, __m256i y, int out8) {
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  if (out8) {
    const __m128i b = _mm_packs_epi16(w16, w16);
    if (cols == 8) {
      _mm_storel_epi64((__m128i*)c, b);
    } else {
      int8_t tmp[16];
      _mm_storeu_si128((__m128i*)tmp, b);
      memcpy(c, tmp, cols);
    }
  } else if (cols == 8) {
    _mm_storeu_si128((__m128i*)c, w16);
  } else {
    int16_t tmp[8];
    _mm_storeu_si128((__m128i*)tmp, w16);
    memcpy(c, tmp, cols * sizeof(int16_t));
  }
}

#endif
