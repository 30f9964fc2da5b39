/* AVX-512 VNNI sparse kernels: 32 positions per tile, two nonzeros (one packed pair) per
 * step. As in the AVX2 file, two int16 activation rows are interleaved and multiplied by
 * the weight pair {w0, w1}; vpdpwssd fuses the multiply-add into the int32 accumulator:
 * x0*w0 + x1*w1 is exact, the accumulation wraps (eq. 3). The interleave works within
 * 128-bit lanes; one two-source permute restores position order before requantization
 * (eq. 5: 32-bit fast path for sh > 32 as in the AVX2 file, else vpsraq and 64-bit clamps). */
#include "sparse/spmm_x86.h"

#define T 32
#define NC 64 /* channels requantized into one tile buffer before the transpose to C */

typedef struct {
  __m512i m0, add, lo, hi, zo, qmin, qmax;
  __m128i sh;
  int fast;
} rq_t;

static inline rq_t rq_setup(int32_t m0, int32_t sh, const qe_spmm_params* p) {
  rq_t q;
  q.m0 = _mm512_set1_epi32(m0);
  q.zo = _mm512_set1_epi32(p->zo);
  q.qmin = _mm512_set1_epi32(p->qmin);
  q.qmax = _mm512_set1_epi32(p->qmax);
  q.fast = sh > 32;
  if (q.fast) {
    q.sh = _mm_cvtsi32_si128(sh - 32);
    q.add = _mm512_set1_epi32(1 << (sh - 33));
  } else {
    q.sh = _mm_cvtsi32_si128(sh);
    q.add = _mm512_set1_epi64((int64_t)1 << (sh - 1));
    q.lo = _mm512_set1_epi64((int64_t)p->qmin - p->zo);
    q.hi = _mm512_set1_epi64((int64_t)p->qmax - p->zo);
  }
  return q;
}

/* (p + 2^(sh-1)) >> sh == (hi32(p) + 2^(sh-33)) >> (sh-32) for sh > 32 (AVX2 file) */
static inline __m128i requant16_fast(__m512i acc, const rq_t* q) {
  const __m512i pe = _mm512_mul_epi32(acc, q->m0);
  const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), q->m0);
  const __m512i hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
  __m512i y = _mm512_add_epi32(_mm512_sra_epi32(_mm512_add_epi32(hi, q->add), q->sh), q->zo);
  y = _mm512_min_epi32(_mm512_max_epi32(y, q->qmin), q->qmax);
  return _mm512_cvtepi32_epi8(y);
}

static inline __m512i shift_clamp64(__m512i x, const rq_t* q) {
  x = _mm512_sra_epi64(_mm512_add_epi64(x, q->add), q->sh);
  return _mm512_min_epi64(_mm512_max_epi64(x, q->lo), q->hi);
}

static inline __m128i requant16_slow(__m512i acc, const rq_t* q) {
  const __m512i e = shift_clamp64(_mm512_mul_epi32(acc, q->m0), q);
  const __m512i o = shift_clamp64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), q->m0), q);
  const __m512i y = _mm512_mask_blend_epi32(0xAAAA, e, _mm512_slli_epi64(o, 32));
  return _mm512_cvtepi32_epi8(_mm512_add_epi32(y, q->zo));
}

/* 32 accumulators, in the lane order of the unpacks, -> 32 int8 outputs in order */
static inline void requant32(__m512i lo, __m512i hi, const rq_t* q, int8_t* dst) {
  const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i i1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29,
                                       30, 31);
  const __m512i a0 = _mm512_permutex2var_epi32(lo, i0, hi);
  const __m512i a1 = _mm512_permutex2var_epi32(lo, i1, hi);
  if (__builtin_expect(q->fast, 1)) {
    _mm_storeu_si128((__m128i*)dst, requant16_fast(a0, q));
    _mm_storeu_si128((__m128i*)(dst + 16), requant16_fast(a1, q));
  } else {
    _mm_storeu_si128((__m128i*)dst, requant16_slow(a0, q));
    _mm_storeu_si128((__m128i*)(dst + 16), requant16_slow(a1, q));
  }
}

static inline __m512i bcast_pair(const int16_t* w) {
  int32_t v;
  memcpy(&v, w, sizeof(v));
  return _mm512_set1_epi32(v);
}

static inline __attribute__((always_inline)) void mm_br(
    const qe_spmm_w* W, const size_t br, size_t r0, size_t r1, const int16_t* at,
    size_t at_stride, size_t mb, size_t me, int8_t* c, size_t c_stride,
    const qe_spmm_params* p) {
  int8_t buf[NC][T];
  const size_t rows_per_buf = NC / br;
  for (size_t m = mb; m < me; m += T) {
    const size_t mt = QE_MIN((size_t)T, me - m);
    const int16_t* atm = at + m;
    for (size_t rb = r0; rb < r1; rb += rows_per_buf) {
      const size_t re = QE_MIN(r1, rb + rows_per_buf);
      for (size_t r = rb; r < re; r++) {
        __m512i lo[4], hi[4];
        for (size_t j = 0; j < br; j++) lo[j] = hi[j] = _mm512_set1_epi32(W->bias[r * br + j]);
        const int32_t* idx = W->pidx + 2 * (size_t)W->pptr[r];
        const int16_t* w = W->pw + (size_t)W->pptr[r] * br * 2;
        int32_t q = W->pptr[r];
        if (br == 1) {
          /* a second accumulator pair hides vpdpwssd's latency (one chain per pair) */
          __m512i lo1 = _mm512_setzero_si512(), hi1 = _mm512_setzero_si512();
          for (; q + 1 < W->pptr[r + 1]; q += 2, idx += 4, w += 4) {
            const __m512i x0 = _mm512_loadu_si512(atm + (size_t)idx[0] * at_stride);
            const __m512i x1 = _mm512_loadu_si512(atm + (size_t)idx[1] * at_stride);
            const __m512i x2 = _mm512_loadu_si512(atm + (size_t)idx[2] * at_stride);
            const __m512i x3 = _mm512_loadu_si512(atm + (size_t)idx[3] * at_stride);
            const __m512i w01 = bcast_pair(w), w23 = bcast_pair(w + 2);
            lo[0] = _mm512_dpwssd_epi32(lo[0], _mm512_unpacklo_epi16(x0, x1), w01);
            hi[0] = _mm512_dpwssd_epi32(hi[0], _mm512_unpackhi_epi16(x0, x1), w01);
            lo1 = _mm512_dpwssd_epi32(lo1, _mm512_unpacklo_epi16(x2, x3), w23);
            hi1 = _mm512_dpwssd_epi32(hi1, _mm512_unpackhi_epi16(x2, x3), w23);
          }
          lo[0] = _mm512_add_epi32(lo[0], lo1); /* int32 sums wrap: order does not matter */
          hi[0] = _mm512_add_epi32(hi[0], hi1);
        }
        for (; q < W->pptr[r + 1]; q++, idx += 2, w += 2 * br) {
          const __m512i x0 = _mm512_loadu_si512(atm + (size_t)idx[0] * at_stride);
          const __m512i x1 = _mm512_loadu_si512(atm + (size_t)idx[1] * at_stride);
          const __m512i ul = _mm512_unpacklo_epi16(x0, x1), uh = _mm512_unpackhi_epi16(x0, x1);
          for (size_t j = 0; j < br; j++) {
            const __m512i wj = bcast_pair(w + 2 * j);
            lo[j] = _mm512_dpwssd_epi32(lo[j], ul, wj);
            hi[j] = _mm512_dpwssd_epi32(hi[j], uh, wj);
          }
        }
        for (size_t j = 0; j < br; j++) {
          const size_t n = r * br + j; /* channels past N are padded with m0 = 0, sh = 1 */
          const rq_t q = rq_setup(W->m0[n], W->sh[n], p);
          requant32(lo[j], hi[j], &q, buf[(r - rb) * br + j]);
        }
      }
      const size_t n0 = rb * br, nc = QE_MIN(W->n, re * br) - n0;
      int8_t* cm = c + m * c_stride + n0;
      qe_spmm_store_x86(&buf[0][0], T, nc, QE_MIN((size_t)16, mt), cm, c_stride);
      if (mt > 16) qe_spmm_store_x86(&buf[0][16], T, nc, mt - 16, cm + 16 * c_stride, c_stride);
    }
  }
}

static void mm(const qe_spmm_w* W, size_t r0, size_t r1, const int16_t* at, size_t at_stride,
               size_t mb, size_t me, int8_t* c, size_t c_stride, const qe_spmm_params* p) {
  if (W->br == 1)
    mm_br(W, 1, r0, r1, at, at_stride, mb, me, c, c_stride, p);
  else
    mm_br(W, 4, r0, r1, at, at_stride, mb, me, c, c_stride, p);
}

/* Matrix-vector, BR = 1: 16 nonzeros per step (masked tail), activations gathered from a32
 * (spmm.h) and multiplied with vpmaddwd (zero upper halves: a plain 16 x 16 product). */
static void mv(const qe_spmm_w* W, size_t r0, size_t r1, const int8_t* a, const uint32_t* a32,
               int8_t* c, const qe_spmm_params* p) {
  if (W->br == 4) {
    qe_spmm_mv4_x86(W, r0, r1, a, c, p);
    return;
  }
  for (size_t r = r0; r < r1; r++) {
    const size_t q0 = (size_t)W->pptr[r], cnt = 2 * ((size_t)W->pptr[r + 1] - q0);
    const int32_t* ix = W->pidx + 2 * q0;
    const int16_t* wv = W->pw + 2 * q0;
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = 0; i < cnt; i += 16) {
      const __mmask16 mk = cnt - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cnt - i)) - 1);
      const __m512i vi = _mm512_maskz_loadu_epi32(mk, ix + i);
      const __m512i x = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mk, vi, a32, 4);
      const __m512i w = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(mk, wv + i));
      acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
    }
    const int32_t s = qe_wrap_add(_mm512_reduce_add_epi32(acc), W->bias[r]);
    c[r] = (int8_t)qe_requant(s, W->m0[r], W->sh[r], p->zo, p->qmin, p->qmax);
  }
}

static void transpose(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                      int16_t* at, size_t at_stride) {
  qe_spmm_transpose_x86(m0, m, k, a, a_stride, at, at_stride);
}

const qe_spmm_kernel qe_spmm_kernel__avx512vnni = {
    {"qe_qs8_spmm_minmax_32x1__avx512vnni", "qe_qs8_spmm_minmax_32x4__avx512vnni"},
    QE_ISA_AVX512VNNI, T, mm, mv, transpose};
