/* eq. 5 on 16 int32 lanes with AVX-512 (F, BW, VL, DQ), for the *__avx512vnni.c files only.
 * AVX-512 has the 64-bit arithmetic shift and 64-bit min/max, so eq. 5 maps directly:
 * widen to int64, vpmuldq, add 2^(sh-1), vpsraq, clamp to [qmin - zo, qmax - zo], narrow. */
#ifndef QE_REQUANT_AVX512_H
#define QE_REQUANT_AVX512_H

#include <immintrin.h>
#include <stdint.h>

typedef struct {
  __m512i m0, rnd, lo, hi;
  __m512i zo;
  __m128i shift;
} qe_requant_avx512;

static inline qe_requant_avx512 qe_requant_avx512_init(int32_t m0, int32_t sh, int32_t zo,
                                                       int32_t qmin, int32_t qmax) {
  qe_requant_avx512 r;
  r.m0 = _mm512_set1_epi64(m0);
  r.rnd = _mm512_set1_epi64((int64_t)1 << (sh - 1));
  r.lo = _mm512_set1_epi64((int64_t)qmin - zo);
  r.hi = _mm512_set1_epi64((int64_t)qmax - zo);
  r.zo = _mm512_set1_epi32(zo);
  r.shift = _mm_cvtsi32_si128(sh);
  return r;
}

static inline __m256i qe_requant_avx512_8(__m256i acc, const qe_requant_avx512* r) {
  const __m512i p = _mm512_mul_epi32(_mm512_cvtepi32_epi64(acc), r->m0);
  __m512i x = _mm512_sra_epi64(_mm512_add_epi64(p, r->rnd), r->shift);
  x = _mm512_min_epi64(_mm512_max_epi64(x, r->lo), r->hi);
  return _mm512_cvtepi64_epi32(x);
}

/* 16 int32 accumulators -> 16 int8 outputs in [qmin, qmax]. */
static inline __m128i qe_requant_avx512_16(__m512i acc, const qe_requant_avx512* r) {
  const __m256i lo = qe_requant_avx512_8(_mm512_castsi512_si256(acc), r);
  const __m256i hi = qe_requant_avx512_8(_mm512_extracti64x4_epi64(acc, 1), r);
  const __m512i y = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), r->zo);
  return _mm512_cvtsepi32_epi8(y);
}

static inline __mmask64 qe_mask64(size_t n) {
  return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

static inline __mmask16 qe_mask16(size_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

#endif
