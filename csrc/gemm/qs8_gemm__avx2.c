/* AVX2 GEMM microkernel (x86 without VNNI: Haswell .. Skylake, Zen 1-3), bit-exact with
 * qs8_gemm_scalar.c. Compiled alone with -mavx2 -mfma -mbmi2.
 *
 * Products, eq. 3: int8 values are sign extended to int16 and multiplied with vpmaddwd,
 * which sums two int16 x int16 products into an int32 lane: exact (|sum| <= 2 * 128 * 127).
 * vpmaddubsw is not used: its int16 pair sum saturates (2 * 255 * 127 > 32767).
 *   KR = 2: a weight panel holds, per pair of k, NR channels x 2 bytes; vpmovsxbw turns 8
 *   channels into one ymm of (w[k], w[k+1]) int16 pairs. The SR activation rows of a
 *   sub-tile are sign extended into an int16 stack buffer, so the (a[k], a[k+1]) pair
 *   reaches every lane with a plain 32-bit broadcast load (no shuffle in the inner loop).
 * Requantization, eq. 5 in 64-bit lanes: vpmuldq, + 2^(sh-1), eq. 6 (+ 2^62, logical shift,
 * - 2^(62-sh)), + zo, clamp; see requant8() below for why a 32-bit pre-clamp of the
 * accumulator makes the 64-bit clamp unnecessary. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"

#define MR 12        /* rows per call, in sub-tiles of SR */
#define SR 6         /* rows whose accumulators live in registers */
#define NR 16
#define KR 2
#define G 2           /* ymm accumulators per row: NR / 8 */
#define KC 512        /* activation bytes per row sign extended at a time (stack: SR KiB) */

#define QE_INLINE static inline __attribute__((always_inline))

/* Per-channel requantization constants of 8 channels; _e/_o are the even/odd channels,
 * i.e. the 64-bit lanes of vpmuldq. */
typedef struct {
  __m256i acc_lo, acc_hi; /* the accumulator pre-clamp, see requant8() */
  __m256i m0_e, m0_o;     /* m0 in the low dword of each qword */
  __m256i rnd_e, rnd_o;   /* 2^62 + 2^(sh-1): eq. 5 rounding term plus eq. 6 offset */
  __m256i sh_e, sh_o;
  __m256i off;            /* 2^(62-sh) - zo, modulo 2^32 */
} requant_consts;

QE_INLINE void requant_prepare(requant_consts* q, const int32_t* m0, const int32_t* sh,
                               const qe_gemm_params* p) {
  const __m256i vm0 = _mm256_loadu_si256((const __m256i*)m0);
  const __m256i vsh = _mm256_loadu_si256((const __m256i*)sh);
  /* acc bound 2^e, e = sh + 8 - L with 2^L <= m0 (L = float exponent - 1, never above
   * floor(log2 m0) even when the conversion rounds up), e clamped to [0, 31];
   * e = 31 (also m0 = 0) means no clamp: [INT32_MIN, INT32_MAX]. */
  const __m256i ex = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(vm0)), 23);
  __m256i e = _mm256_sub_epi32(_mm256_add_epi32(vsh, _mm256_set1_epi32(127 + 1 + 8)), ex);
  e = _mm256_min_epi32(_mm256_max_epi32(e, _mm256_setzero_si256()), _mm256_set1_epi32(31));
  const __m256i none = _mm256_cmpeq_epi32(e, _mm256_set1_epi32(31));
  q->acc_hi = _mm256_add_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), e), none);
  q->acc_lo = _mm256_sub_epi32(none, q->acc_hi);

  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i r62 = _mm256_set1_epi64x((int64_t)1 << 62);
  const __m256i sh_e = _mm256_and_si256(vsh, _mm256_set1_epi64x(0xFFFFFFFF));
  const __m256i sh_o = _mm256_srli_epi64(vsh, 32);
  q->m0_e = vm0;
  q->m0_o = _mm256_srli_epi64(vm0, 32);
  q->sh_e = sh_e;
  q->sh_o = sh_o;
  q->rnd_e = _mm256_add_epi64(r62, _mm256_sllv_epi64(one, _mm256_sub_epi64(sh_e, one)));
  q->rnd_o = _mm256_add_epi64(r62, _mm256_sllv_epi64(one, _mm256_sub_epi64(sh_o, one)));
  const __m256i off_e = _mm256_srlv_epi64(r62, sh_e); /* 2^(62-sh) */
  const __m256i off_o = _mm256_srlv_epi64(r62, sh_o);
  const __m256i off = _mm256_blend_epi32(off_e, _mm256_slli_epi64(off_o, 32), 0xAA);
  q->off = _mm256_sub_epi32(off, _mm256_set1_epi32(p->zo));
}

/* Eq. 5 for 8 int32 accumulators, without the final clamp: returns y + zo in int32 lanes.
 * 1. Pre-clamp acc to [-2^e, 2^e] (in int32): y = (acc * m0 + 2^(sh-1)) >> sh is
 *    non-decreasing in acc, and |acc| >= 2^e gives |acc * m0| >= 2^(sh+8), |y| >= 256,
 *    beyond every [qmin - zo, qmax - zo] (within [-255, 255]): the clamped result does not
 *    change. After it |y| <= 2^10 + 1 (m0 < 2^(L+2), so 2^e * m0 < 2^(sh+10)), or, when
 *    e = 0 (|acc| <= 1), |y| <= 2^30 + 1: y + zo fits int32 either way.
 * 2. x = acc * m0 (|x| < 2^62); u = x + 2^62 + 2^(sh-1) lies in [0, 2^64), so the logical
 *    shift is exact and u >> sh = y + 2^(62-sh) (eq. 6). Its low dword minus
 *    (2^(62-sh) - zo) is y + zo, exactly, modulo 2^32 and hence in int32. */
QE_INLINE __m256i requant8(__m256i acc, const requant_consts* q) {
  acc = _mm256_min_epi32(_mm256_max_epi32(acc, q->acc_lo), q->acc_hi);
  __m256i e = _mm256_mul_epi32(acc, q->m0_e);
  __m256i o = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->m0_o);
  e = _mm256_srlv_epi64(_mm256_add_epi64(e, q->rnd_e), q->sh_e);
  o = _mm256_srlv_epi64(_mm256_add_epi64(o, q->rnd_o), q->sh_o);
  const __m256i y = _mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xAA);
  return _mm256_sub_epi32(y, q->off);
}

/* Sign extends kc bytes (even) of each of the mr rows into int16, row stride KC. */
QE_INLINE void widen_rows(size_t mr, size_t kc, const int8_t* a, size_t a_stride,
                          int16_t* buf) {
  for (size_t i = 0; i < mr; i++) {
    const int8_t* src = a + i * a_stride;
    int16_t* dst = buf + i * KC;
    size_t k = 0;
    for (; k + 16 <= kc; k += 16)
      _mm256_storeu_si256((__m256i*)(dst + k),
                          _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(src + k))));
    for (; k < kc; k++) dst[k] = src[k];
  }
}

/* One sub-tile with a compile-time row count R <= SR and ymm group count NG (the
 * specialisations below): M = 1 and a half-empty last panel do only the work they need. */
QE_INLINE void tile(const size_t R, const size_t NG, size_t nc, size_t kp, const int8_t* a,
                    size_t a_stride, const void* w, int8_t* c, size_t c_stride,
                    const requant_consts* q, const qe_gemm_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int8_t* wk = (const int8_t*)(bias + 3 * NR);
  int16_t abuf[SR * KC];
  __m256i acc[SR][G];
  for (size_t g = 0; g < NG; g++) {
    const __m256i b = _mm256_loadu_si256((const __m256i*)(bias + 8 * g));
    for (size_t i = 0; i < R; i++) acc[i][g] = b;
  }
  for (size_t k0 = 0; k0 < kp; k0 += KC) {
    const size_t kc = QE_MIN((size_t)KC, kp - k0);
    widen_rows(R, kc, a + k0, a_stride, abuf);
    const int8_t* wp = wk + k0 * NR;
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k += 2, wp += 2 * NR) {
      __m256i wv[G];
      for (size_t g = 0; g < NG; g++)
        wv[g] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(wp + 16 * g)));
      for (size_t i = 0; i < R; i++) {
        int32_t pair;
        memcpy(&pair, abuf + i * KC + k, sizeof(pair));
        const __m256i av = _mm256_set1_epi32(pair);
        for (size_t g = 0; g < NG; g++)
          acc[i][g] = _mm256_add_epi32(acc[i][g], _mm256_madd_epi16(av, wv[g]));
      }
    }
  }
  /* Two rows at a time: the signed saturating packs int32 -> int16 -> int8 saturate to
   * [-128, 127] as one step would, and [-128, 127] contains [qmin, qmax], so clamping the
   * bytes afterwards is the clamp of eq. 5. A partial tile (nc < 8 * NG) goes through
   * bytes[]. */
  const __m256i qmin = _mm256_set1_epi8((char)p->qmin), qmax = _mm256_set1_epi8((char)p->qmax);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const int full = nc == 8 * NG;
  for (size_t i = 0; i < R; i += 2) {
    const size_t i1 = i + 1 < R ? i + 1 : i;
    __m256i v;
    if (NG == 2)
      v = _mm256_packs_epi16(
          _mm256_packs_epi32(requant8(acc[i][0], &q[0]), requant8(acc[i][1], &q[1])),
          _mm256_packs_epi32(requant8(acc[i1][0], &q[0]), requant8(acc[i1][1], &q[1])));
    else {
      v = _mm256_packs_epi32(requant8(acc[i][0], &q[0]), requant8(acc[i1][0], &q[0]));
      v = _mm256_packs_epi16(v, v);
    }
    /* bytes now: row i, then row i1, 8 * NG each */
    v = _mm256_permutevar8x32_epi32(v, perm);
    v = _mm256_min_epi8(_mm256_max_epi8(v, qmin), qmax);
    int8_t bytes[32];
    if (!full) _mm256_storeu_si256((__m256i*)bytes, v);
    for (size_t r = i; r <= i1; r++) {
      int8_t* cr = c + r * c_stride;
      const size_t off = (r - i) * 8 * NG;
      if (!full)
        memcpy(cr, bytes + off, nc);
      else if (NG == 2)
        _mm_storeu_si128((__m128i*)cr, r == i ? _mm256_castsi256_si128(v)
                                              : _mm256_extracti128_si256(v, 1));
      else
        _mm_storel_epi64((__m128i*)cr, r == i ? _mm256_castsi256_si128(v)
                                              : _mm_unpackhi_epi64(_mm256_castsi256_si128(v),
                                                                   _mm256_castsi256_si128(v)));
    }
  }
}

/* Up to MR rows in sub-tiles of SR, sharing the requantization constants; mr and the
 * number of 8-channel groups in use pick a specialisation of tile(). */
QE_INLINE void tiles(const size_t NG, size_t mr, size_t nc, size_t kp, const int8_t* a,
                     size_t a_stride, const void* w, int8_t* c, size_t c_stride,
                     const qe_gemm_params* p) {
  const int32_t* m0 = (const int32_t*)w + NR;
  const int32_t* sh = m0 + NR;
  requant_consts q[G];
  for (size_t g = 0; g < NG; g++) requant_prepare(&q[g], m0 + 8 * g, sh + 8 * g, p);
  for (size_t i = 0; i < mr; i += SR) {
    const int8_t* ai = a + i * a_stride;
    int8_t* ci = c + i * c_stride;
    switch (QE_MIN(mr - i, (size_t)SR)) {
#define QE_CASE(R) \
  case R: tile(R, NG, nc, kp, ai, a_stride, w, ci, c_stride, q, p); break;
      QE_CASE(1) QE_CASE(2) QE_CASE(3) QE_CASE(4) QE_CASE(5) QE_CASE(6)
#undef QE_CASE
    }
  }
}

static void ukernel(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                    const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  if (nc > 8)
    tiles(2, mr, nc, kp, a, a_stride, w, c, c_stride, p);
  else
    tiles(1, mr, nc, kp, a, a_stride, w, c, c_stride, p);
}

const qe_gemm_kernel qe_gemm_kernel__avx2 = {
    "qe_qs8_gemm_minmax_12x16c2__avx2", QE_ISA_AVX2, MR, NR, KR, 0, ukernel, NULL, NULL};
