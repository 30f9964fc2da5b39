/* AVX2 sparse kernels: 16 positions per tile, two nonzeros (one packed pair) per step.
 *
 * Two int16 activation rows are interleaved with vpunpck{l,h}wd, and vpmaddwd multiplies
 * the pairs by the broadcast weight pair {w0, w1}: x0*w0 + x1*w1 in int32, exact since
 * |x| <= 128 and |w| <= 127 (eq. 3; int32 adds wrap). The interleave works within 128-bit
 * lanes, so the accumulators hold positions {0-3, 8-11} and {4-7, 12-15}; one lane
 * permute restores the order before requantization. Requantization (eq. 5): for sh > 32
 * from the high halves of the products in 32 bits (see requant8_fast), else with eq. 6,
 * as AVX2 has no 64-bit arithmetic shift. */
#include "sparse/spmm_x86.h"

#define T 16
#define NC 64 /* channels requantized into one tile buffer before the transpose to C */

typedef struct {
  __m256i m0, add, sub, lo, hi, zo, qmin, qmax;
  __m128i sh;
  int fast;
} rq_t;

static inline rq_t rq_setup(int32_t m0, int32_t sh, const qe_spmm_params* p) {
  rq_t q;
  q.m0 = _mm256_set1_epi32(m0);
  q.zo = _mm256_set1_epi32(p->zo);
  q.qmin = _mm256_set1_epi32(p->qmin);
  q.qmax = _mm256_set1_epi32(p->qmax);
  q.fast = sh > 32;
  if (q.fast) { /* see requant8_fast */
    q.sh = _mm_cvtsi32_si128(sh - 32);
    q.add = _mm256_set1_epi32(1 << (sh - 33));
  } else {
    q.sh = _mm_cvtsi32_si128(sh);
    q.add = _mm256_set1_epi64x(((int64_t)1 << 62) + ((int64_t)1 << (sh - 1)));
    q.sub = _mm256_set1_epi64x((int64_t)1 << (62 - sh));
    q.lo = _mm256_set1_epi64x((int64_t)p->qmin - p->zo);
    q.hi = _mm256_set1_epi64x((int64_t)p->qmax - p->zo);
  }
  return q;
}

/* eq. 5 with eq. 6, on the 4 int64 products of one register, clamped in int64 */
static inline __m256i rq_shift_clamp(__m256i x, const rq_t* q) {
  x = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_add_epi64(x, q->add), q->sh), q->sub);
  x = _mm256_blendv_epi8(x, q->lo, _mm256_cmpgt_epi64(q->lo, x));
  return _mm256_blendv_epi8(x, q->hi, _mm256_cmpgt_epi64(x, q->hi));
}

/* 8 accumulators -> 8 outputs in [qmin, qmax] as int32, any sh in [1, 62] */
static inline __m256i requant8_slow(__m256i acc, const rq_t* q) {
  const __m256i even = rq_shift_clamp(_mm256_mul_epi32(acc, q->m0), q);
  const __m256i odd = rq_shift_clamp(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->m0), q);
  return _mm256_add_epi32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA), q->zo);
}

/* sh > 32 (the usual case): with p = acc * m0 = hi * 2^32 + lo, 0 <= lo < 2^32,
 *   (p + 2^(sh-1)) >> sh  ==  (hi + 2^(sh-33)) >> (sh - 32)
 * exactly (lo only adds a fraction below one unit of 2^32), so only the high halves of
 * the products are needed and |result| < 2^30 fits int32: clamp in 32 bits. */
static inline __m256i requant8_fast(__m256i acc, const rq_t* q) {
  const __m256i pe = _mm256_mul_epi32(acc, q->m0);
  const __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->m0);
  const __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  const __m256i y = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(hi, q->add), q->sh), q->zo);
  return _mm256_min_epi32(_mm256_max_epi32(y, q->qmin), q->qmax);
}

static inline void pack_store16(__m256i y0, __m256i y1, int8_t* dst) {
  const __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
  _mm_storeu_si128((__m128i*)dst, _mm_packs_epi16(_mm256_castsi256_si128(s16),
                                                  _mm256_extracti128_si256(s16, 1)));
}

/* 16 accumulators (positions in order) -> 16 int8 outputs. The two paths end in their own
 * stores so that the compiler cannot compute both and select. */
static inline void requant16(__m256i a0, __m256i a1, const rq_t* q, int8_t* dst) {
  if (__builtin_expect(q->fast, 1))
    pack_store16(requant8_fast(a0, q), requant8_fast(a1, q), dst);
  else
    pack_store16(requant8_slow(a0, q), requant8_slow(a1, q), dst);
}

static inline __m256i bcast_pair(const int16_t* w) {
  int32_t v;
  memcpy(&v, w, sizeof(v));
  return _mm256_set1_epi32(v);
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
        __m256i lo[4], hi[4];
        for (size_t j = 0; j < br; j++) lo[j] = hi[j] = _mm256_set1_epi32(W->bias[r * br + j]);
        const int32_t* idx = W->pidx + 2 * (size_t)W->pptr[r];
        const int16_t* w = W->pw + (size_t)W->pptr[r] * br * 2;
        for (int32_t q = W->pptr[r]; q < W->pptr[r + 1]; q++, idx += 2, w += 2 * br) {
          const __m256i x0 = _mm256_loadu_si256((const __m256i*)(atm + (size_t)idx[0] * at_stride));
          const __m256i x1 = _mm256_loadu_si256((const __m256i*)(atm + (size_t)idx[1] * at_stride));
          const __m256i ul = _mm256_unpacklo_epi16(x0, x1), uh = _mm256_unpackhi_epi16(x0, x1);
          for (size_t j = 0; j < br; j++) {
            const __m256i wj = bcast_pair(w + 2 * j);
            lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(ul, wj));
            hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(uh, wj));
          }
        }
        for (size_t j = 0; j < br; j++) {
          const size_t n = r * br + j; /* channels past N are padded with m0 = 0, sh = 1 */
          const rq_t q = rq_setup(W->m0[n], W->sh[n], p);
          requant16(_mm256_permute2x128_si256(lo[j], hi[j], 0x20),
                    _mm256_permute2x128_si256(lo[j], hi[j], 0x31), &q, buf[(r - rb) * br + j]);
        }
      }
      const size_t n0 = rb * br, nc = QE_MIN(W->n, re * br) - n0;
      qe_spmm_store_x86(&buf[0][0], T, nc, mt, c + m * c_stride + n0, c_stride);
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

/* Matrix-vector, BR = 1: 8 nonzeros per step, activations gathered from a32 (spmm.h) and
 * multiplied with vpmaddwd (the zero upper halves make it a plain 16 x 16 product). */
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
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= cnt; i += 8) {
      const __m256i x = _mm256_i32gather_epi32((const int*)a32,
                                               _mm256_loadu_si256((const __m256i*)(ix + i)), 4);
      const __m256i w = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i*)(wv + i)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    int32_t s = qe_wrap_add(_mm_cvtsi128_si32(s4), W->bias[r]);
    for (; i < cnt; i++) s = qe_wrap_add(s, (int32_t)a[ix[i]] * wv[i]);
    c[r] = (int8_t)qe_requant(s, W->m0[r], W->sh[r], p->zo, p->qmin, p->qmax);
  }
}

static void transpose(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                      int16_t* at, size_t at_stride) {
  qe_spmm_transpose_x86(m0, m, k, a, a_stride, at, at_stride);
}

const qe_spmm_kernel qe_spmm_kernel__avx2 = {
    {"qe_qs8_spmm_minmax_16x1__avx2", "qe_qs8_spmm_minmax_16x4__avx2"},
    QE_ISA_AVX2, T, mm, mv, transpose};
