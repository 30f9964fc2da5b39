/* eq. 5 on 16 int32 lanes with AVX-512 (F, BW, VL, DQ), for the *__avx512vnni.c files only.
 * AVX-512 has the 64-bit arithmetic shift and 64-bit min/max, so eq. 5 maps directly:
 * widen to int64, vpmuldq, add 2^(sh-1), vpsraq, clamp to [qmin - zo, qmax - zo], narrow. */
#ifndef QE_REQUANT_AVX512_H
#define QE_REQUANT_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "common/qe_common.h"

/* Per-channel eq. 5 constants of one 16-channel column of a GEMM tile. */
typedef struct {
  int high; /* every sh in [33, sh_max(zo)]: the 32-bit path of qe_requant_col_high applies */
  __m512i m0, m0_odd, sh_even, sh_odd, rnd_even, rnd_odd, sh32, rnd32;
} qe_requant_col;

/* From 16 m0 and 16 sh in registers (a depthwise kernel permutes them first). */
static inline __attribute__((always_inline)) qe_requant_col qe_requant_col_make(
    __m512i m0, __m512i vs, int32_t zo) {
  const __m512i low32 = _mm512_set1_epi64(0xFFFFFFFF), one = _mm512_set1_epi64(1);
  const int32_t sh_max = qe_requant_sh_max(zo); /* qe_requant_col_high stays exact */
  qe_requant_col r;
  r.m0 = m0; /* vpmuldq reads the low (even) int32 of each 64-bit lane */
  r.m0_odd = _mm512_srli_epi64(r.m0, 32);
  r.high = (_mm512_cmpge_epi32_mask(vs, _mm512_set1_epi32(33)) &
            _mm512_cmple_epi32_mask(vs, _mm512_set1_epi32(sh_max))) == 0xFFFF;
  if (r.high) {
    r.sh32 = _mm512_sub_epi32(vs, _mm512_set1_epi32(32));
    /* 2^(sh-33) rounds; zo * 2^(sh-32) adds zo after the shift, exactly */
    r.rnd32 = _mm512_add_epi32(
        _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(vs, _mm512_set1_epi32(33))),
        _mm512_sllv_epi32(_mm512_set1_epi32(zo), r.sh32));
  } else {
    r.sh_even = _mm512_and_si512(vs, low32);
    r.sh_odd = _mm512_srli_epi64(vs, 32);
    r.rnd_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(r.sh_even, one));
    r.rnd_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(r.sh_odd, one));
  }
  return r;
}

static inline __attribute__((always_inline)) qe_requant_col qe_requant_col_load(
    const int32_t* m0, const int32_t* sh, int32_t zo) {
  return qe_requant_col_make(_mm512_loadu_si512(m0), _mm512_loadu_si512(sh), zo);
}

/* The odd int32 lanes moved to the even positions vpmuldq reads: vpshufd runs on port 5,
 * where a 64-bit shift would join the multiplies and variable shifts on port 0. */
static inline __attribute__((always_inline)) __m512i qe_odd_lanes(__m512i v) {
  return _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0xF5);
}

/* eq. 5 on 16 accumulators, any sh in [1, 62]: 64-bit lanes throughout; returns 16 int32
 * in [qmin - zo, qmax - zo]. lo, hi: those bounds in 64-bit lanes. */
static inline __attribute__((always_inline)) __m512i qe_requant_col_any(
    __m512i acc, const qe_requant_col* r, __m512i lo, __m512i hi) {
  __m512i even = _mm512_mul_epi32(acc, r->m0);
  __m512i odd = _mm512_mul_epi32(qe_odd_lanes(acc), r->m0_odd);
  even = _mm512_srav_epi64(_mm512_add_epi64(even, r->rnd_even), r->sh_even);
  odd = _mm512_srav_epi64(_mm512_add_epi64(odd, r->rnd_odd), r->sh_odd);
  even = _mm512_min_epi64(_mm512_max_epi64(even, lo), hi);
  odd = _mm512_min_epi64(_mm512_max_epi64(odd, lo), hi);
  /* even results sit in the low int32 of their 64-bit lane already; odd ones move up */
  return _mm512_mask_shuffle_epi32(even, 0xAAAA, odd, (_MM_PERM_ENUM)0xA0);
}

/* eq. 5 when 33 <= sh <= sh_max(zo) (the converter makes sh >= 33 whenever M < 2^-2),
 * m0 and m0_odd: the multipliers of the even and the odd lanes in the low int32 of each
 * 64-bit lane, rnd32 = 2^(sh-33) + zo 2^(sh-32), sh32 = sh - 32 per lane:
 * with p = acc * m0 = P * 2^32 + L, 0 <= L < 2^32, and 2^(sh-1) = 2^(sh-33) * 2^32, the
 * low word L cannot carry, so (p + 2^(sh-1)) >> sh == (P + 2^(sh-33)) >> (sh - 32)
 * exactly. Adding zo * 2^(sh-32) before the shift adds zo after it, exactly. P (the high
 * int32 of the product) has |P| <= 2^30 and |zo * 2^(sh-32)| <= 2^29, so the sum fits in
 * int32. Only the products are 64-bit: 7 instructions per 16 outputs instead of 15.
 * Returns y + zo, unclamped. */
static inline __attribute__((always_inline)) __m512i qe_requant_high32(
    __m512i acc, __m512i m0, __m512i m0_odd, __m512i rnd32, __m512i sh32) {
  const __m512i even = _mm512_mul_epi32(acc, m0);
  const __m512i odd = _mm512_mul_epi32(qe_odd_lanes(acc), m0_odd);
  /* high int32 of each product: odd ones are in place, even ones move down */
  const __m512i p = _mm512_mask_shuffle_epi32(odd, 0x5555, even, (_MM_PERM_ENUM)0xF5);
  return _mm512_srav_epi32(_mm512_add_epi32(p, rnd32), sh32);
}

static inline __attribute__((always_inline)) __m512i qe_requant_col_high(
    __m512i acc, const qe_requant_col* r) {
  return qe_requant_high32(acc, r->m0, r->m0_odd, r->rnd32, r->sh32);
}

/* eq. 5 with one m0, sh, zo, qmin, qmax for every lane (elementwise ops, pooling). */
typedef struct {
  __m512i m0, rnd, lo, hi;
  __m512i zo, qmin, qmax;
  __m128i shift;
  qe_requant_col col; /* the same m0, sh for the 32-bit path, taken when col.high */
} qe_requant_avx512;

static inline qe_requant_avx512 qe_requant_avx512_init(int32_t m0, int32_t sh, int32_t zo,
                                                       int32_t qmin, int32_t qmax) {
  qe_requant_avx512 r;
  r.m0 = _mm512_set1_epi64(m0);
  r.rnd = _mm512_set1_epi64((int64_t)1 << (sh - 1));
  r.lo = _mm512_set1_epi64((int64_t)qmin - zo);
  r.hi = _mm512_set1_epi64((int64_t)qmax - zo);
  r.zo = _mm512_set1_epi32(zo);
  r.qmin = _mm512_set1_epi32(qmin);
  r.qmax = _mm512_set1_epi32(qmax);
  r.shift = _mm_cvtsi32_si128(sh);
  r.col = qe_requant_col_make(_mm512_set1_epi32(m0), _mm512_set1_epi32(sh), zo);
  return r;
}

/* 64-bit lanes, any sh in [1, 62] */
static inline __m256i qe_requant_avx512_8(__m256i acc, const qe_requant_avx512* r) {
  const __m512i p = _mm512_mul_epi32(_mm512_cvtepi32_epi64(acc), r->m0);
  __m512i x = _mm512_sra_epi64(_mm512_add_epi64(p, r->rnd), r->shift);
  x = _mm512_min_epi64(_mm512_max_epi64(x, r->lo), r->hi);
  return _mm512_cvtepi64_epi32(x);
}

/* 16 int32 accumulators -> 16 int8 outputs in [qmin, qmax]: the 32-bit path of
 * qe_requant_col_high when sh allows it (the usual case: 7 + 3 instructions instead of ~20),
 * else 64-bit lanes. */
static inline __m128i qe_requant_avx512_16(__m512i acc, const qe_requant_avx512* r) {
  if (r->col.high) {
    const __m512i y = qe_requant_col_high(acc, &r->col);
    return _mm512_cvtsepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(y, r->qmin), r->qmax));
  }
  const __m256i lo = qe_requant_avx512_8(_mm512_castsi512_si256(acc), r);
  const __m256i hi = qe_requant_avx512_8(_mm512_extracti64x4_epi64(acc, 1), r);
  const __m512i y = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), r->zo);
  return _mm512_cvtsepi32_epi8(y);
}

/* Output side of eq. 5 for GEMM-like kernels writing int8 or int16 (qe_requant_col_store). */
typedef struct {
  int clamp_lo, clamp_hi, out8;
  __m512i lo64, hi64, qmin, qmax, zo;
} qe_requant_out;

static inline qe_requant_out qe_requant_out_init(int32_t zo, int32_t qmin, int32_t qmax,
                                                 int out8) {
  qe_requant_out o;
  /* the narrowing stores saturate, so a clamp to the full output range costs nothing */
  o.clamp_lo = qmin > (out8 ? -128 : -32768);
  o.clamp_hi = qmax < (out8 ? 127 : 32767);
  o.out8 = out8;
  o.lo64 = _mm512_set1_epi64((int64_t)qmin - zo);
  o.hi64 = _mm512_set1_epi64((int64_t)qmax - zo);
  o.qmin = _mm512_set1_epi32(qmin);
  o.qmax = _mm512_set1_epi32(qmax);
  o.zo = _mm512_set1_epi32(zo);
  return o;
}

/* eq. 5 on the 16 int32 accumulators of one column, stored as int8 (o->out8) or int16
 * under mask. */
static inline __attribute__((always_inline)) void qe_requant_col_store(
    __m512i acc, const qe_requant_col* r, const qe_requant_out* o, void* c, __mmask16 mask) {
  __m512i y;
  if (r->high) {
    y = qe_requant_col_high(acc, r);
    if (o->clamp_lo) y = _mm512_max_epi32(y, o->qmin);
    if (o->clamp_hi) y = _mm512_min_epi32(y, o->qmax);
  } else {
    y = _mm512_add_epi32(qe_requant_col_any(acc, r, o->lo64, o->hi64), o->zo);
  }
  if (o->out8)
    _mm512_mask_cvtsepi32_storeu_epi8(c, mask, y);
  else
    _mm512_mask_cvtsepi32_storeu_epi16(c, mask, y);
}

static inline __mmask64 qe_mask64(size_t n) {
  return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

static inline __mmask16 qe_mask16(size_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

#endif
