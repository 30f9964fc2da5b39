/* AVX-512 (F/BW/VL/DQ + VNNI) depthwise microkernels, 32 channels per step:
 * qe_qs8_dwconv_minmax_<taps>_32c__avx512vnni.
 *
 * As the AVX2 kernel, two taps at a time: int16 inputs of taps t, t+1 interleaved
 * (vpunpcklwd/hwd), and vpdpwssd adds x_t*w_t + x_t+1*w_t+1 to the int32 accumulator
 * (eq. 3). Accumulator channel order is {0-3, 8-11, 16-19, 24-27} / {4-7, ...}; parameters
 * are permuted to match once per block and row, vpackssdw restores natural order, vpmovswb
 * narrows. Requantization is eq. 5 directly: vpmuldq on even and odd lanes, vpsravq, on an
 * accumulator clamped to [amin, amax] (dwconv.h); or, when every sh of a full block is in
 * [33, 54] (the usual case), the GEMM kernels' cheaper exact 32-bit form
 * (qe_requant_col_high, requant__avx512.h): no accumulator clamp is needed there, the
 * result fits int32 and the saturating narrowing plus the int8 clamp finish the job. Channel tails use masked loads/stores;
 * a last block of <= 16 channels runs the same code on 256-bit vectors (AVX-512 VL), so
 * e.g. 144 channels cost 4.5 blocks, not 5. */
#include <immintrin.h>

#include "common/requant__avx512.h"
#include "dwconv/dwconv.h"

#define CB 32
#define MAX_PAIRS 13

static inline __m512i load_x(const int8_t* p, size_t nc, __mmask32 m) {
  if (nc == CB) return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i*)p));
  return _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, p));
}

typedef struct {
  __m512i bias, amin, amax, m0e, m0o, rnde, rndo, she, sho;
  qe_requant_col col; /* col.high: the GEMM kernels' 32-bit form applies (requant__avx512.h) */
} rq16;

static inline __m512i perm(const int32_t* p, int half) {
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 16);
  const __m512i idx = half ? _mm512_add_epi32(lo, _mm512_set1_epi32(4)) : lo;
  return _mm512_permutex2var_epi32(a, idx, b);
}

static inline void rq_setup(rq16* q, const int32_t* packed, size_t cpad, size_t c0, int half,
                            int32_t zo) {
  const int32_t* bias = packed + c0;
  q->bias = perm(bias, half);
  const __m512i m0 = perm(bias + cpad, half), sh = perm(bias + 2 * cpad, half);
  q->amin = perm(bias + 3 * cpad, half);
  q->amax = perm(bias + 4 * cpad, half);
  q->m0e = m0;
  q->m0o = _mm512_srli_epi64(m0, 32);
  q->she = _mm512_and_si512(sh, _mm512_set1_epi64(0xFFFFFFFF));
  q->sho = _mm512_srli_epi64(sh, 32);
  const __m512i one = _mm512_set1_epi64(1);
  q->rnde = _mm512_sllv_epi64(one, _mm512_sub_epi64(q->she, one));
  q->rndo = _mm512_sllv_epi64(one, _mm512_sub_epi64(q->sho, one));
  q->col = qe_requant_col_make(m0, sh, zo);
}

static inline __m512i requant(__m512i acc, const rq16* q, __m512i zo) {
  acc = _mm512_min_epi32(_mm512_max_epi32(acc, q->amin), q->amax);
  __m512i pe = _mm512_mul_epi32(acc, q->m0e);
  __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), q->m0o);
  pe = _mm512_srav_epi64(_mm512_add_epi64(pe, q->rnde), q->she); /* eq. 5 */
  po = _mm512_srav_epi64(_mm512_add_epi64(po, q->rndo), q->sho);
  const __m512i r = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
  return _mm512_add_epi32(r, zo);
}

static inline void store(int8_t* out, __m512i r0, __m512i r1, __m256i lo, __m256i hi,
                         size_t nc, __mmask32 m) {
  __m256i r8 = _mm512_cvtsepi16_epi8(_mm512_packs_epi32(r0, r1));
  r8 = _mm256_min_epi8(_mm256_max_epi8(r8, lo), hi);
  if (nc == CB)
    _mm256_storeu_si256((__m256i*)out, r8);
  else
    _mm256_mask_storeu_epi8(out, m, r8);
}

/* One channel block over the row's pixels; nc == CB is passed as a literal for full
 * blocks, so they use plain loads and stores. */
static inline __attribute__((always_inline)) void dw_pixels(
    const int high, size_t c0, size_t nc, __mmask32 m, size_t pixels, const size_t taps,
    size_t step,
    const int8_t* const* ind, const __m512i* wl, const __m512i* wh, const rq16* q0,
    const rq16* q1, __m512i zo, int8_t* out, size_t out_stride, __m256i lo, __m256i hi) {
  const size_t pairs = (taps + 1) / 2;
  for (size_t px = 0; px < pixels; px++) {
    const int8_t* const* ip = ind + px * step;
    __m512i acc0 = q0->bias, acc1 = q1->bias;
    for (size_t q = 0; q < pairs; q++) {
      const __m512i xa = load_x(ip[2 * q] + c0, nc, m);
      const __m512i xb = 2 * q + 1 < taps ? load_x(ip[2 * q + 1] + c0, nc, m) : xa;
      acc0 = _mm512_dpwssd_epi32(acc0, _mm512_unpacklo_epi16(xa, xb), wl[q]);
      acc1 = _mm512_dpwssd_epi32(acc1, _mm512_unpackhi_epi16(xa, xb), wh[q]);
    }
    if (high)
      store(out + px * out_stride + c0, qe_requant_col_high(acc0, &q0->col),
            qe_requant_col_high(acc1, &q1->col), lo,
            hi, nc, m);
    else
      store(out + px * out_stride + c0, requant(acc0, q0, zo), requant(acc1, q1, zo), lo, hi,
            nc, m);
  }
}

/* ---- 16-channel tail block on 256-bit vectors: order {0-3, 8-11} / {4-7, 12-15} ---- */
typedef struct {
  __m256i bias, amin, amax, m0e, m0o, rnde, rndo, she, sho;
} rq8;

static inline __m256i load_x16(const int8_t* p, size_t nc, __mmask16 m) {
  if (nc == 16) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)p));
  return _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, p));
}

static inline __m256i perm8(const int32_t* p, int half) {
  const __m256i a = _mm256_loadu_si256((const __m256i*)p);
  const __m256i b = _mm256_loadu_si256((const __m256i*)(p + 8));
  return half ? _mm256_permute2x128_si256(a, b, 0x31) : _mm256_permute2x128_si256(a, b, 0x20);
}

static inline void rq8_setup(rq8* q, const int32_t* packed, size_t cpad, size_t c0, int half) {
  const int32_t* bias = packed + c0;
  q->bias = perm8(bias, half);
  const __m256i m0 = perm8(bias + cpad, half), sh = perm8(bias + 2 * cpad, half);
  q->amin = perm8(bias + 3 * cpad, half);
  q->amax = perm8(bias + 4 * cpad, half);
  q->m0e = m0;
  q->m0o = _mm256_srli_epi64(m0, 32);
  q->she = _mm256_and_si256(sh, _mm256_set1_epi64x(0xFFFFFFFF));
  q->sho = _mm256_srli_epi64(sh, 32);
  const __m256i one = _mm256_set1_epi64x(1);
  q->rnde = _mm256_sllv_epi64(one, _mm256_sub_epi64(q->she, one));
  q->rndo = _mm256_sllv_epi64(one, _mm256_sub_epi64(q->sho, one));
}

static inline __m256i requant8(__m256i acc, const rq8* q, __m256i zo) {
  acc = _mm256_min_epi32(_mm256_max_epi32(acc, q->amin), q->amax);
  __m256i pe = _mm256_mul_epi32(acc, q->m0e);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->m0o);
  pe = _mm256_srav_epi64(_mm256_add_epi64(pe, q->rnde), q->she); /* eq. 5 */
  po = _mm256_srav_epi64(_mm256_add_epi64(po, q->rndo), q->sho);
  const __m256i r = _mm256_mask_blend_epi32(0xAA, pe, _mm256_slli_epi64(po, 32));
  return _mm256_add_epi32(r, zo);
}

static inline __attribute__((always_inline)) void dw_pixels16(
    size_t c0, size_t nc, __mmask16 m, size_t pixels, const size_t taps, size_t step,
    const int8_t* const* ind, const __m256i* wl, const __m256i* wh, const rq8* q0,
    const rq8* q1, __m256i zo, int8_t* out, size_t out_stride, __m128i lo, __m128i hi) {
  const size_t pairs = (taps + 1) / 2;
  for (size_t px = 0; px < pixels; px++) {
    const int8_t* const* ip = ind + px * step;
    __m256i acc0 = q0->bias, acc1 = q1->bias;
    for (size_t q = 0; q < pairs; q++) {
      const __m256i xa = load_x16(ip[2 * q] + c0, nc, m);
      const __m256i xb = 2 * q + 1 < taps ? load_x16(ip[2 * q + 1] + c0, nc, m) : xa;
      acc0 = _mm256_dpwssd_epi32(acc0, _mm256_unpacklo_epi16(xa, xb), wl[q]);
      acc1 = _mm256_dpwssd_epi32(acc1, _mm256_unpackhi_epi16(xa, xb), wh[q]);
    }
    const __m256i r16 = _mm256_packs_epi32(requant8(acc0, q0, zo), requant8(acc1, q1, zo));
    __m128i r8 = _mm256_cvtsepi16_epi8(r16);
    r8 = _mm_min_epi8(_mm_max_epi8(r8, lo), hi);
    if (nc == 16)
      _mm_storeu_si128((__m128i*)(out + px * out_stride + c0), r8);
    else
      _mm_mask_storeu_epi8(out + px * out_stride + c0, m, r8);
  }
}

static inline __attribute__((always_inline)) void dw_block16(
    size_t c0, size_t nc, size_t pixels, const size_t taps, size_t step,
    const int8_t* const* ind, const void* packed, size_t cpad, int8_t* out,
    size_t out_stride, const qe_dwconv_params* p) {
  const size_t pairs = (taps + 1) / 2;
  const int8_t* w = (const int8_t*)((const int32_t*)packed + 5 * cpad);
  const __mmask16 m = nc == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1);
  __m256i wl[MAX_PAIRS], wh[MAX_PAIRS];
  for (size_t q = 0; q < pairs; q++) {
    const __m256i wa = load_x16(w + 2 * q * cpad + c0, 16, m);
    const __m256i wb = 2 * q + 1 < taps ? load_x16(w + (2 * q + 1) * cpad + c0, 16, m)
                                        : _mm256_setzero_si256();
    wl[q] = _mm256_unpacklo_epi16(wa, wb);
    wh[q] = _mm256_unpackhi_epi16(wa, wb);
  }
  rq8 q0, q1;
  rq8_setup(&q0, (const int32_t*)packed, cpad, c0, 0);
  rq8_setup(&q1, (const int32_t*)packed, cpad, c0, 1);
  const __m128i lo = _mm_set1_epi8((char)p->qmin), hi = _mm_set1_epi8((char)p->qmax);
  const __m256i zo = _mm256_set1_epi32(p->zo);
  if (nc == 16)
    dw_pixels16(c0, 16, m, pixels, taps, step, ind, wl, wh, &q0, &q1, zo, out, out_stride, lo,
                hi);
  else
    dw_pixels16(c0, nc, m, pixels, taps, step, ind, wl, wh, &q0, &q1, zo, out, out_stride, lo,
                hi);
}

static inline __attribute__((always_inline)) void dw_rows(
    size_t channels, size_t pixels, const size_t taps, size_t step, const int8_t* const* ind,
    const void* packed, size_t cpad, int8_t* out, size_t out_stride, const qe_dwconv_params* p) {
  const size_t pairs = (taps + 1) / 2;
  const int8_t* w = (const int8_t*)((const int32_t*)packed + 5 * cpad);
  const __m256i lo = _mm256_set1_epi8((char)p->qmin), hi = _mm256_set1_epi8((char)p->qmax);
  const __m512i zo = _mm512_set1_epi32(p->zo);
  for (size_t c0 = 0; c0 < channels; c0 += CB) {
    const size_t nc = QE_MIN((size_t)CB, channels - c0);
    if (nc <= 16) {
      dw_block16(c0, nc, pixels, taps, step, ind, packed, cpad, out, out_stride, p);
      break;
    }
    const __mmask32 m = nc == CB ? ~(__mmask32)0 : (((__mmask32)1 << nc) - 1);
    __m512i wl[MAX_PAIRS], wh[MAX_PAIRS];
    for (size_t q = 0; q < pairs; q++) {
      const __m512i wa = load_x(w + 2 * q * cpad + c0, CB, m);
      const __m512i wb = 2 * q + 1 < taps ? load_x(w + (2 * q + 1) * cpad + c0, CB, m)
                                          : _mm512_setzero_si512();
      wl[q] = _mm512_unpacklo_epi16(wa, wb);
      wh[q] = _mm512_unpackhi_epi16(wa, wb);
    }
    rq16 q0, q1;
    rq_setup(&q0, (const int32_t*)packed, cpad, c0, 0, p->zo);
    rq_setup(&q1, (const int32_t*)packed, cpad, c0, 1, p->zo);
    if (nc == CB && q0.col.high && q1.col.high)
      dw_pixels(1, c0, CB, m, pixels, taps, step, ind, wl, wh, &q0, &q1, zo, out, out_stride,
                lo, hi);
    else if (nc == CB)
      dw_pixels(0, c0, CB, m, pixels, taps, step, ind, wl, wh, &q0, &q1, zo, out, out_stride,
                lo, hi);
    else
      dw_pixels(0, c0, nc, m, pixels, taps, step, ind, wl, wh, &q0, &q1, zo, out, out_stride,
                lo, hi);
  }
}

static void dw_any(size_t channels, size_t pixels, size_t taps, size_t step,
                   const int8_t* const* ind,
                   const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                   const qe_dwconv_params* p) {
  if (taps <= 2 * MAX_PAIRS) {
    dw_rows(channels, pixels, taps, step, ind, packed, cpad, out, out_stride, p);
    return;
  }
  const int8_t* w = (const int8_t*)((const int32_t*)packed + 5 * cpad);
  const __m256i lo = _mm256_set1_epi8((char)p->qmin), hi = _mm256_set1_epi8((char)p->qmax);
  const __m512i zo = _mm512_set1_epi32(p->zo);
  for (size_t c0 = 0; c0 < channels; c0 += CB) {
    const size_t nc = QE_MIN((size_t)CB, channels - c0);
    const __mmask32 m = nc == CB ? ~(__mmask32)0 : (((__mmask32)1 << nc) - 1);
    rq16 q0, q1;
    rq_setup(&q0, (const int32_t*)packed, cpad, c0, 0, p->zo);
    rq_setup(&q1, (const int32_t*)packed, cpad, c0, 1, p->zo);
    for (size_t px = 0; px < pixels; px++) {
      const int8_t* const* ip = ind + px * step;
      __m512i acc0 = q0.bias, acc1 = q1.bias;
      for (size_t t = 0; t < taps; t += 2) {
        const int two = t + 1 < taps;
        const __m512i xa = load_x(ip[t] + c0, nc, m);
        const __m512i xb = two ? load_x(ip[t + 1] + c0, nc, m) : xa;
        const __m512i wa = load_x(w + t * cpad + c0, CB, m);
        const __m512i wb = two ? load_x(w + (t + 1) * cpad + c0, CB, m)
                               : _mm512_setzero_si512();
        acc0 = _mm512_dpwssd_epi32(acc0, _mm512_unpacklo_epi16(xa, xb),
                                   _mm512_unpacklo_epi16(wa, wb));
        acc1 = _mm512_dpwssd_epi32(acc1, _mm512_unpackhi_epi16(xa, xb),
                                   _mm512_unpackhi_epi16(wa, wb));
      }
      store(out + px * out_stride + c0, requant(acc0, &q0, zo), requant(acc1, &q1, zo), lo,
            hi, nc, m);
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

const qe_dwconv_kernel qe_dwconv_kernels__avx512vnni[] = {
    {"qe_qs8_dwconv_minmax_3x3_32c__avx512vnni", 9, dw_3x3},
    {"qe_qs8_dwconv_minmax_5x5_32c__avx512vnni", 25, dw_5x5},
    {"qe_qs8_dwconv_minmax_32c__avx512vnni", 0, dw_any},
    {NULL, 0, NULL},
};
