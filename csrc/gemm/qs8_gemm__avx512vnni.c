/* AVX-512 VNNI GEMM microkernel: MR x NR tile, KR = 4, NR/16 zmm columns per row.
 *
 * Inner step (eq. 3 with eq. 7): for 4 values of k, the MR activation rows' 4 bytes
 * (packed as a ^ 0x80, i.e. u8 = a + 128) are broadcast to all 16 lanes, and vpdpbusd
 * multiplies them by the packed weights w[kb][j][0..3] (s8), summing 4 products into each
 * int32 lane; pack_w already took 128 * sum(w) out of the bias. Sums wrap mod 2^32 like
 * the scalar reference, so splitting k over several accumulators (small mr, below) and
 * adding them at the end gives the same int32.
 *
 * Requantization is eq. 5 exactly: vpmuldq on the even and the odd int32 lanes gives the
 * 64-bit products; then either (any sh) + 2^(sh-1), vpsravq (arithmetic shift by a
 * per-lane count), clamp to [qmin - zo, qmax - zo] in 64 bits and put the lanes back
 * together, or (all sh of the 16 channels in [33, 54], the usual case) the cheaper exact
 * 32-bit form of qe_requant_col_high (csrc/common/requant__avx512.h). Then + zo, narrowed
 * to int8 with vpmovsdb (saturating, so the clamp to [-128, 127] is free) and stored under
 * a mask of the nc valid channels. */
#include <immintrin.h>
#include <string.h>

#include "common/requant__avx512.h"
#include "gemm/gemm.h"

#ifndef QE_VNNI_MR
#define QE_VNNI_MR 8
#endif
#ifndef QE_VNNI_NR
#define QE_VNNI_NR 32
#endif
#define MR QE_VNNI_MR
#define NR QE_VNNI_NR
#define G (NR / 16) /* zmm columns per row */

#define INLINE static inline __attribute__((always_inline))

/* acc += dot4(u8 a, s8 w) per int32 lane. Inline asm rather than _mm512_dpbusd_epi32:
 * gcc 12 does not tie the accumulator's input and output registers for the intrinsic
 * and copies every accumulator each iteration (measured 577 instead of 819 GOPS, 1024^3). */
INLINE __m512i dpbusd(__m512i acc, __m512i a, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(w));
  return acc;
}

INLINE __m512i bcast4(const uint8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Per-panel requantization setup: the G columns' constants and the output parameters.
 * Built once per panel (qe_gemm_rows), not once per tile: at small K (the 1x1 layers of
 * MobileNetV2, the 3-channel stems) it was a visible share of a tile. */
typedef struct {
  qe_requant_col col[G];
  __m512i lo64, hi64, qmin, qmax, zo;
  int clamp_lo, clamp_hi;
} panel_setup;

INLINE void panel_setup_init(panel_setup* S, size_t nc, const void* w, const qe_gemm_params* p) {
  const int32_t* m0 = (const int32_t*)w + NR;
  const int32_t* sh = m0 + NR;
  for (size_t g = 0; g < G && 16 * g < nc; g++)
    S->col[g] = qe_requant_col_load(m0 + 16 * g, sh + 16 * g, p->zo);
  S->lo64 = _mm512_set1_epi64(p->qmin - p->zo);
  S->hi64 = _mm512_set1_epi64(p->qmax - p->zo);
  S->qmin = _mm512_set1_epi32(p->qmin);
  S->qmax = _mm512_set1_epi32(p->qmax);
  S->zo = _mm512_set1_epi32(p->zo);
  /* the int8 store saturates, so [-128, 127] needs no clamp instructions */
  S->clamp_lo = p->qmin > -128;
  S->clamp_hi = p->qmax < 127;
}

/* The tile for a compile-time row count R (1..MR) and k-split KS: KS sets of accumulators
 * take turns over k blocks so that R * G * KS >= ~10 independent vpdpbusd chains hide
 * its latency (5 cycles, 2 per cycle) even for R = 1 (matrix-vector). */
INLINE void tile(const size_t R, const size_t KS, size_t nc, size_t kp, const int8_t* a,
                 size_t a_stride, const void* w, int8_t* c, size_t c_stride,
                 const panel_setup* S) {
  const int32_t* bias = (const int32_t*)w;
  const int8_t* wk = (const int8_t*)(bias + 3 * NR);
  const uint8_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = (const uint8_t*)a + i * a_stride;

  __m512i acc[4][MR][G]; /* fixed sizes: after inlining, all registers */
  for (size_t g = 0; g < G; g++) {
    const __m512i b = _mm512_loadu_si512(bias + 16 * g);
    for (size_t i = 0; i < R; i++) {
      acc[0][i][g] = b;
      for (size_t s = 1; s < KS; s++) acc[s][i][g] = _mm512_setzero_si512();
    }
  }

  const size_t nkb = kp / 4;
  size_t kb = 0;
  if (KS > 1) {
    for (; kb + KS <= nkb; kb += KS) {
      for (size_t s = 0; s < KS; s++) {
        __m512i wv[G];
        for (size_t g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(wk + ((kb + s) * G + g) * 64);
        for (size_t i = 0; i < R; i++) {
          const __m512i av = bcast4(ar[i] + 4 * (kb + s));
          for (size_t g = 0; g < G; g++)
            acc[s][i][g] = dpbusd(acc[s][i][g], av, wv[g]);
        }
      }
    }
  }
  for (; kb < nkb; kb++) {
    __m512i wv[G];
    for (size_t g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(wk + (kb * G + g) * 64);
    for (size_t i = 0; i < R; i++) {
      const __m512i av = bcast4(ar[i] + 4 * kb);
      for (size_t g = 0; g < G; g++) acc[0][i][g] = dpbusd(acc[0][i][g], av, wv[g]);
    }
  }
  for (size_t s = 1; s < KS; s++)
    for (size_t i = 0; i < R; i++)
      for (size_t g = 0; g < G; g++) acc[0][i][g] = _mm512_add_epi32(acc[0][i][g], acc[s][i][g]);

  for (size_t g = 0; g < G && 16 * g < nc; g++) {
    const qe_requant_col* r = &S->col[g];
    const __mmask16 mask = qe_mask16(nc - 16 * g);
    for (size_t i = 0; i < R; i++) {
      __m512i y;
      if (r->high) {
        y = qe_requant_col_high(acc[0][i][g], r);
        if (S->clamp_lo) y = _mm512_max_epi32(y, S->qmin);
        if (S->clamp_hi) y = _mm512_min_epi32(y, S->qmax);
      } else {
        y = _mm512_add_epi32(qe_requant_col_any(acc[0][i][g], r, S->lo64, S->hi64), S->zo);
      }
      _mm512_mask_cvtsepi32_storeu_epi8(c + i * c_stride + 16 * g, mask, y);
    }
  }
}

/* k-split for R rows: enough chains to cover vpdpbusd latency, within 32 registers */
#define KSPLIT(R) ((R) * G >= 10 ? 1 : (R) * G >= 5 ? 2 : (R) * G >= 3 ? 3 : 4)
#define CASE(R) \
  case R: tile(R, KSPLIT(R), nc, kp, a, a_stride, w, c, c_stride, S); break;

static void tail(size_t mr, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                 const void* w, int8_t* c, size_t c_stride, const panel_setup* S) {
  switch (mr) {
    CASE(1)
#if MR >= 2
    CASE(2)
#endif
#if MR >= 3
    CASE(3)
#endif
#if MR >= 4
    CASE(4)
#endif
#if MR >= 5
    CASE(5)
#endif
#if MR >= 6
    CASE(6)
#endif
#if MR >= 7
    CASE(7)
#endif
#if MR >= 8
    CASE(8)
#endif
#if MR >= 9
    CASE(9)
#endif
#if MR >= 10
    CASE(10)
#endif
#if MR >= 11
    CASE(11)
#endif
#if MR >= 12
    CASE(12)
#endif
#if MR >= 13
    CASE(13)
#endif
#if MR >= 14
    CASE(14)
#endif
    default: break;
  }
}

static void panel(size_t rows, size_t nc, size_t kp, const int8_t* a, size_t a_stride,
                  const void* w, int8_t* c, size_t c_stride, const qe_gemm_params* p) {
  panel_setup S;
  panel_setup_init(&S, nc, w, p);
  size_t i = 0;
  for (; i + MR <= rows; i += MR)
    tile(MR, KSPLIT(MR), nc, kp, a + i * a_stride, a_stride, w, c + i * c_stride, c_stride, &S);
  if (i < rows)
    tail(rows - i, nc, kp, a + i * a_stride, a_stride, w, c + i * c_stride, c_stride, &S);
}

/* Packing's and im2col's activation copy with the XOR of eq. 7: 64 bytes a step, the tail
 * (and any short kernel row: 9 bytes in a 3x3 3-channel stem) by one masked load and store,
 * which neither reads nor writes the bytes the mask leaves out. */
static void copy_xor(uint8_t* dst, const uint8_t* src, size_t n) {
  const __m512i x = _mm512_set1_epi8((char)0x80);
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), x));
  if (i < n) {
    const __mmask64 m = qe_mask64(n - i);
    const __m512i v = _mm512_maskz_loadu_epi8(m, src + i);
    _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(v, x));
  }
}

#define STR_(x) #x
#define STR(x) STR_(x)
const qe_gemm_kernel qe_gemm_kernel__avx512vnni = {
    "qe_qs8_gemm_minmax_" STR(MR) "x" STR(NR) "c4__avx512vnni", QE_ISA_AVX512VNNI, MR, NR, 4,
    0x80, panel /* takes any row count, so it is the tile entry too */, panel, copy_xor};
