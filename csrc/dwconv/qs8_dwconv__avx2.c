/* AVX2 depthwise microkernels, 16 channels per step: qe_qs8_dwconv_minmax_<taps>_16c__avx2.
 *
 * Two taps at a time: the int8 inputs of taps t and t+1 are widened to int16 and
 * interleaved (vpunpcklwd/hwd), so one vpmaddwd gives x_t*w_t + x_t+1*w_t+1 per channel in
 * int32 (eq. 3). The interleave leaves channels in the order {0-3, 8-11} and {4-7, 12-15};
 * weights and requantization parameters are put in the same order once per channel block
 * and row, and vpackssdw restores the natural order. Requantization is eq. 5 via eq. 6
 * (AVX2 has no 64-bit arithmetic shift), on an accumulator clamped to [amin, amax]
 * (dwconv.h), so only the low 32 bits of each 64-bit result are needed. */
#include <immintrin.h>
#include <string.h>

#include "dwconv/dwconv.h"

#define CB 16
#define MAX_PAIRS 13 /* weights of up to 26 taps stay in registers / L1 for a whole row */

static inline __m256i load_x(const int8_t* p, size_t nc) {
  if (nc == CB) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)p));
  int8_t tmp[CB] = {0};
  memcpy(tmp, p, nc); /* never read past the channels of the last input pixel */
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)tmp));
}

static inline __m256i load_w(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)p));
}

typedef struct {
  __m256i bias, amin, amax, m0e, m0o, adde, addo, she, sho, off;
} rq8;

/* Parameters of 8 channels in accumulator order `half` (0: {0-3, 8-11}, 1: {4-7, 12-15}). */
static inline __m256i perm(const int32_t* p, int half) {
  const __m256i a = _mm256_loadu_si256((const __m256i*)p);
  const __m256i b = _mm256_loadu_si256((const __m256i*)(p + 8));
  return half ? _mm256_permute2x128_si256(a, b, 0x31) : _mm256_permute2x128_si256(a, b, 0x20);
}

static inline void rq_setup(rq8* q, const int32_t* packed, size_t cpad, size_t c0, int half,
                            int32_t zo) {
  const int32_t* bias = packed + c0;
  q->bias = perm(bias, half);
  const __m256i m0 = perm(bias + cpad, half), sh = perm(bias + 2 * cpad, half);
  q->amin = perm(bias + 3 * cpad, half);
  q->amax = perm(bias + 4 * cpad, half);
  q->m0e = m0;
  q->m0o = _mm256_srli_epi64(m0, 32);
  q->she = _mm256_and_si256(sh, _mm256_set1_epi64x(0xFFFFFFFF));
  q->sho = _mm256_srli_epi64(sh, 32);
  const __m256i one = _mm256_set1_epi64x(1), big = _mm256_set1_epi64x((int64_t)1 << 62);
  /* eq. 6: add 2^62 + 2^(sh-1), shift logically, subtract 2^(62-sh) (mod 2^32) - zo */
  q->adde = _mm256_add_epi64(big, _mm256_sllv_epi64(one, _mm256_sub_epi64(q->she, one)));
  q->addo = _mm256_add_epi64(big, _mm256_sllv_epi64(one, _mm256_sub_epi64(q->sho, one)));
  q->off = _mm256_sub_epi32(
      _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(_mm256_set1_epi32(62), sh)),
      _mm256_set1_epi32(zo));
}

static inline __m256i requant(__m256i acc, const rq8* q) {
  acc = _mm256_min_epi32(_mm256_max_epi32(acc, q->amin), q->amax);
  __m256i pe = _mm256_mul_epi32(acc, q->m0e);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->m0o);
  pe = _mm256_srlv_epi64(_mm256_add_epi64(pe, q->adde), q->she);
  po = _mm256_srlv_epi64(_mm256_add_epi64(po, q->addo), q->sho);
  const __m256i r = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  return _mm256_sub_epi32(r, q->off);
}

static inline void store(int8_t* out, __m256i r0, __m256i r1, __m128i lo, __m128i hi,
                         size_t nc) {
  const __m256i r16 = _mm256_packs_epi32(r0, r1); /* natural channel order again */
  __m128i r8 = _mm_packs_epi16(_mm256_castsi256_si128(r16), _mm256_extracti128_si256(r16, 1));
  r8 = _mm_min_epi8(_mm_max_epi8(r8, lo), hi);
  if (nc == CB) {
    _mm_storeu_si128((__m128i*)out, r8);
  } else {
    int8_t tmp[CB];
    _mm_storeu_si128((__m128i*)tmp, r8);
    memcpy(out, tmp, nc);
  }
}

/* One channel block over the row's pixels. Called with nc == CB as a literal for full
 * blocks, so the tail handling of load_x/store folds away there. */
static inline __attribute__((always_inline)) void dw_pixels(
    size_t c0, size_t nc, size_t pixels, const size_t taps, size_t step,
    const int8_t* const* ind, const __m256i* wl, const __m256i* wh, const rq8* q0,
    const rq8* q1, int8_t* out, size_t out_stride, __m128i lo, __m128i hi) {
  const size_t pairs = (taps + 1) / 2;
  for (size_t px = 0; px < pixels; px++) {
    const int8_t* const* ip = ind + px * step;
    __m256i acc0 = q0->bias, acc1 = q1->bias;
    for (size_t q = 0; q < pairs; q++) {
      const __m256i xa = load_x(ip[2 * q] + c0, nc);
      /* odd tap count: the last pair's partner weight is 0, any input will do */
      const __m256i xb = 2 * q + 1 < taps ? load_x(ip[2 * q + 1] + c0, nc) : xa;
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wl[q]));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), wh[q]));
    }
    store(out + px * out_stride + c0, requant(acc0, q0), requant(acc1, q1), lo, hi, nc);
  }
}

/* taps <= 2 * MAX_PAIRS; a constant `taps` (9, 25) lets the compiler unroll everything. */
static inline __attribute__((always_inline)) void dw_rows(
    size_t channels, size_t pixels, const size_t taps, size_t step, const int8_t* const* ind,
    const void* packed, size_t cpad, int8_t* out, size_t out_stride, const qe_dwconv_params* p) {
  const size_t pairs = (taps + 1) / 2;
  const int8_t* w = (const int8_t*)((const int32_t*)packed + 5 * cpad);
  const __m128i lo = _mm_set1_epi8((char)p->qmin), hi = _mm_set1_epi8((char)p->qmax);
  for (size_t c0 = 0; c0 < channels; c0 += CB) {
    const size_t nc = QE_MIN((size_t)CB, channels - c0);
    __m256i wl[MAX_PAIRS], wh[MAX_PAIRS];
    for (size_t q = 0; q < pairs; q++) {
      const __m256i wa = load_w(w + 2 * q * cpad + c0);
      const __m256i wb = 2 * q + 1 < taps ? load_w(w + (2 * q + 1) * cpad + c0)
                                          : _mm256_setzero_si256();
      wl[q] = _mm256_unpacklo_epi16(wa, wb);
      wh[q] = _mm256_unpackhi_epi16(wa, wb);
    }
    rq8 q0, q1;
    rq_setup(&q0, (const int32_t*)packed, cpad, c0, 0, p->zo);
    rq_setup(&q1, (const int32_t*)packed, cpad, c0, 1, p->zo);
    if (nc == CB)
      dw_pixels(c0, CB, pixels, taps, step, ind, wl, wh, &q0, &q1, out, out_stride, lo, hi);
    else
      dw_pixels(c0, nc, pixels, taps, step, ind, wl, wh, &q0, &q1, out, out_stride, lo, hi);
  }
}

/* Any tap count: weights are widened and interleaved inside the pixel loop. */
static void dw_any(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  if (taps <= 2 * MAX_PAIRS) {
    dw_rows(channels, pixels, taps, step, ind, packed, cpad, out, out_stride, p);
    return;
  }
  const int8_t* w = (const int8_t*)((const int32_t*)packed + 5 * cpad);
  const __m128i lo = _mm_set1_epi8((char)p->qmin), hi = _mm_set1_epi8((char)p->qmax);
  for (size_t c0 = 0; c0 < channels; c0 += CB) {
    const size_t nc = QE_MIN((size_t)CB, channels - c0);
    rq8 q0, q1;
    rq_setup(&q0, (const int32_t*)packed, cpad, c0, 0, p->zo);
    rq_setup(&q1, (const int32_t*)packed, cpad, c0, 1, p->zo);
    for (size_t px = 0; px < pixels; px++) {
      const int8_t* const* ip = ind + px * step;
      __m256i acc0 = q0.bias, acc1 = q1.bias;
      for (size_t t = 0; t < taps; t += 2) {
        const int two = t + 1 < taps;
        const __m256i xa = load_x(ip[t] + c0, nc), xb = two ? load_x(ip[t + 1] + c0, nc) : xa;
        const __m256i wa = load_w(w + t * cpad + c0);
        const __m256i wb = two ? load_w(w + (t + 1) * cpad + c0) : _mm256_setzero_si256();
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb),
                                                        _mm256_unpacklo_epi16(wa, wb)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb),
                                                        _mm256_unpackhi_epi16(wa, wb)));
      }
      store(out + px * out_stride + c0, requant(acc0, &q0), requant(acc1, &q1), lo, hi, nc);
    }
  }
}

static void dw_3x3(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  dw_rows(channels, pixels, 9, step, ind, packed, cpad, out, out_stride, p);
}

static void dw_5x5(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  dw_rows(channels, pixels, 25, step, ind, packed, cpad, out, out_stride, p);
}

const qe_dwconv_kernel qe_dwconv_kernels__avx2[] = {
    {"qe_qs8_dwconv_minmax_3x3_16c__avx2", 9, dw_3x3},
    {"qe_qs8_dwconv_minmax_5x5_16c__avx2", 25, dw_5x5},
    {"qe_qs8_dwconv_minmax_16c__avx2", 0, dw_any},
    {NULL, 0, NULL},
};
