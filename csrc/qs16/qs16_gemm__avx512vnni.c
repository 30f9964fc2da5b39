/* AVX-512 VNNI 16x8 GEMM microkernels: MR x NR tile (12 x 32), KR = 2, NR/16 zmm columns per row.
 *
 * Inner step (eq. 20): the MR activation rows' next two int16 (4 bytes) are broadcast to
 * all 16 lanes and vpdpwssd multiplies them by the packed weight pairs w[kb][j][0..1]
 * (int8 widened to int16 at pack time), adding both products into each int32 lane. It is
 * the int8 kernel's loop (csrc/gemm/qs8_gemm__avx512vnni.c) with half the MACs per
 * instruction. vpdpwssd does not saturate; eq. 21 (int32 kernel) and the 512-k blocks
 * (int64 kernel, QE_QS16_ACC64_BLOCK) keep every int32 sum exact.
 *
 * int32 kernel: eq. 5 with the int8 kernel's helpers (csrc/common/requant__avx512.h): the
 * 32-bit form when every sh of 16 channels is in [33, 61 - b] for |zo| <= 2^b (46 for any
 * int16 zo), else 64-bit lanes (vpmuldq, + 2^(sh-1), vpsravq per channel); then a
 * saturating narrow to int16 or int8 (so the full-range clamp is free) stored under a
 * mask of the valid channels.
 * int64 kernel: each block's int32 sums are added into an int64 tile, then eq. 5 for int64
 * (qe_qs16_requant64) per output -- O(M N) next to the O(M N K) products, K > ~500.
 *
 * Each tile first fetches its output lines for writing (prefetchw): the int16 output
 * (2 MiB at 1024^3, twice int8's) otherwise misses in the epilogue, and the stores'
 * read-for-ownership stalled the tiles (+3% at 1024^3 on Zen 4: 0.482x -> 0.496x int8). */
#include <immintrin.h>
#include <string.h>

#include "common/requant__avx512.h"
#include "qs16/qs16.h"

#ifndef QE_QS16_VNNI_MR
#define QE_QS16_VNNI_MR 12
#endif
#define MR QE_QS16_VNNI_MR
#ifndef QE_QS16_VNNI_NR
#define QE_QS16_VNNI_NR 32
#endif
#define NR QE_QS16_VNNI_NR
#define G (NR / 16)
#define PREFETCH 16 /* k pairs ahead */
#define UNROLL 2

#define INLINE static inline __attribute__((always_inline))

/* acc += a0 * w0 + a1 * w1 per int32 lane. Inline asm: see the int8 kernel (gcc copies
 * every accumulator each iteration with the intrinsic). */
INLINE __m512i dpwssd(__m512i acc, __m512i a, __m512i w) {
  __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(w));
  return acc;
}

INLINE __m512i bcast2(const int16_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Fetch the output of R tile rows for writing: the first and the last byte's cache lines
 * of each row's nc outputs (NR int16 = 64 bytes span at most two). */
INLINE void prefetchw_tile(const size_t R, size_t nc, const void* c, size_t c_stride,
                           const qe_qs16_params* p) {
  const size_t esize = p->out8 ? 1 : 2;
  for (size_t i = 0; i < R; i++) {
    const char* row = (const char*)c + i * c_stride * esize;
    __asm__ volatile("prefetchw %0" : : "m"(*row));
    __asm__ volatile("prefetchw %0" : : "m"(*(row + nc * esize - 1)));
  }
}

#define KSPLIT(R) ((R) * G >= 10 ? 1 : (R) * G >= 5 ? 2 : (R) * G >= 3 ? 3 : 4)

/* acc[0] (+)= sum over k pairs [kb0, kb1) for R rows; KS sets of accumulators take turns
 * over k pairs so that R * G * KS chains hide vpdpwssd's latency, then are summed. */
INLINE void accumulate(const size_t R, const size_t KS, __m512i acc[MR][G],
                       const int16_t* const* ar, const int16_t* wk, size_t kb0, size_t kb1) {
  __m512i part[4][MR][G];
  for (size_t i = 0; i < R; i++)
    for (size_t g = 0; g < G; g++) {
      part[0][i][g] = acc[i][g];
      for (size_t s = 1; s < KS; s++) part[s][i][g] = _mm512_setzero_si512();
    }
  size_t kb = kb0;
  if (KS > 1) {
    for (; kb + KS <= kb1; kb += KS) {
      for (size_t s = 0; s < KS; s++) {
        __m512i wv[G];
        for (size_t g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(wk + ((kb + s) * G + g) * 32);
        for (size_t i = 0; i < R; i++) {
          const __m512i av = bcast2(ar[i] + 2 * (kb + s));
          for (size_t g = 0; g < G; g++) part[s][i][g] = dpwssd(part[s][i][g], av, wv[g]);
        }
      }
    }
  }
  /* two k pairs per iteration: half the loop and address overhead (+1.5% at 1024^3) */
  for (; KS == 1 && kb + UNROLL <= kb1; kb += UNROLL) {
    for (size_t u = 0; u < UNROLL; u++)
      for (size_t g = 0; g < G; g++)
        _mm_prefetch((const char*)(wk + ((kb + u + PREFETCH) * G + g) * 32), _MM_HINT_T0);
    for (size_t u = 0; u < UNROLL; u++) {
      __m512i wv[G];
      for (size_t g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(wk + ((kb + u) * G + g) * 32);
      for (size_t i = 0; i < R; i++) {
        const __m512i av = bcast2(ar[i] + 2 * (kb + u));
        for (size_t g = 0; g < G; g++) part[0][i][g] = dpwssd(part[0][i][g], av, wv[g]);
      }
    }
  }
  for (; kb < kb1; kb++) {
    __m512i wv[G];
    /* the int16 panel (NR * K * 2 bytes, 64 KiB at K = 1024) outgrows L1, and every row
     * tile walks it again: fetch ahead (+4% at 1024^3; prefetches past the end never fault) */
    for (size_t g = 0; g < G; g++)
      _mm_prefetch((const char*)(wk + ((kb + PREFETCH) * G + g) * 32), _MM_HINT_T0);
    for (size_t g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(wk + (kb * G + g) * 32);
    for (size_t i = 0; i < R; i++) {
      const __m512i av = bcast2(ar[i] + 2 * kb);
      for (size_t g = 0; g < G; g++) part[0][i][g] = dpwssd(part[0][i][g], av, wv[g]);
    }
  }
  for (size_t i = 0; i < R; i++)
    for (size_t g = 0; g < G; g++) {
      __m512i s = part[0][i][g];
      for (size_t t = 1; t < KS; t++) s = _mm512_add_epi32(s, part[t][i][g]);
      acc[i][g] = s;
    }
}

INLINE void tile32(const size_t R, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                   const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int32_t* bias = (const int32_t*)w;
  const int32_t* m0 = bias + NR;
  const int32_t* sh = m0 + NR;
  const int16_t* wk = (const int16_t*)((const int64_t*)(sh + NR) + NR);
  const int16_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = a + i * a_stride;
  prefetchw_tile(R, nc, c, c_stride, p);
  __m512i acc[MR][G];
  for (size_t g = 0; g < G; g++) {
    const __m512i b = _mm512_loadu_si512(bias + 16 * g);
    for (size_t i = 0; i < R; i++) acc[i][g] = b;
  }
  accumulate(R, KSPLIT(R), acc, ar, wk, 0, kp / 2);

  const qe_requant_out o = qe_requant_out_init(p->zo, p->qmin, p->qmax, p->out8);
  const size_t esize = p->out8 ? 1 : 2;
  for (size_t g = 0; g < G && 16 * g < nc; g++) {
    const qe_requant_col r = qe_requant_col_load(m0 + 16 * g, sh + 16 * g, p->zo);
    const __mmask16 mask = (__mmask16)((1u << QE_MIN((size_t)16, nc - 16 * g)) - 1);
    for (size_t i = 0; i < R; i++)
      qe_requant_col_store(acc[i][g], &r, &o, (uint8_t*)c + (i * c_stride + 16 * g) * esize,
                           mask);
  }
}

/* acc64 + bias64, eq. 5, store: 16 channels at a time through the int32 SIMD path when
 * all 16 sums fit in int32 (the usual case: eq. 21 bounds the worst case, real sums are
 * far smaller), else qe_qs16_requant64 per output. */
INLINE void finish64(const size_t R, size_t nc, const int64_t* acc64, const void* w, void* c,
                     size_t c_stride, const qe_qs16_params* p) {
  const int32_t* m0 = (const int32_t*)w + NR;
  const int32_t* sh = m0 + NR;
  const int64_t* bias64 = (const int64_t*)(sh + NR);
  const qe_requant_out o = qe_requant_out_init(p->zo, p->qmin, p->qmax, p->out8);
  const size_t esize = p->out8 ? 1 : 2;
  const __m512i i32min = _mm512_set1_epi64(INT32_MIN), i32max = _mm512_set1_epi64(INT32_MAX);
  for (size_t g = 0; g < G && 16 * g < nc; g++) {
    const qe_requant_col r = qe_requant_col_load(m0 + 16 * g, sh + 16 * g, p->zo);
    const __m512i b0 = _mm512_loadu_si512(bias64 + 16 * g);
    const __m512i b1 = _mm512_loadu_si512(bias64 + 16 * g + 8);
    const size_t cols = QE_MIN((size_t)16, nc - 16 * g);
    const __mmask16 mask = (__mmask16)((1u << cols) - 1);
    for (size_t i = 0; i < R; i++) {
      const int64_t* ai = acc64 + i * NR + 16 * g;
      const __m512i s0 = _mm512_add_epi64(_mm512_loadu_si512(ai), b0);
      const __m512i s1 = _mm512_add_epi64(_mm512_loadu_si512(ai + 8), b1);
      const __mmask8 in0 = _mm512_cmpge_epi64_mask(s0, i32min) & _mm512_cmple_epi64_mask(s0, i32max);
      const __mmask8 in1 = _mm512_cmpge_epi64_mask(s1, i32min) & _mm512_cmple_epi64_mask(s1, i32max);
      if ((in0 & in1) == 0xFF) {
        const __m512i acc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(s0)),
                                               _mm512_cvtepi64_epi32(s1), 1);
        qe_requant_col_store(acc, &r, &o, (uint8_t*)c + (i * c_stride + 16 * g) * esize, mask);
      } else {
        for (size_t j = 0; j < cols; j++)
          qe_qs16_store1(c, i * c_stride + 16 * g + j,
                         qe_qs16_requant64(ai[j] + bias64[16 * g + j], m0[16 * g + j],
                                           sh[16 * g + j], p->zo, p->qmin, p->qmax),
                         p->out8);
      }
    }
  }
}

INLINE void tile64(const size_t R, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                   const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int16_t* wk = (const int16_t*)((const int64_t*)((const int32_t*)w + 3 * NR) + NR);
  const int16_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = a + i * a_stride;
  prefetchw_tile(R, nc, c, c_stride, p);
  int64_t acc64[MR * NR];
  int32_t part[MR * NR];
  memset(acc64, 0, sizeof(acc64));
  const size_t nkb = kp / 2, block = QE_QS16_ACC64_BLOCK / 2;
  for (size_t kb0 = 0; kb0 < nkb; kb0 += block) {
    __m512i acc[MR][G];
    for (size_t i = 0; i < R; i++)
      for (size_t g = 0; g < G; g++) acc[i][g] = _mm512_setzero_si512();
    accumulate(R, KSPLIT(R), acc, ar, wk, kb0, QE_MIN(nkb, kb0 + block));
    for (size_t i = 0; i < R; i++)
      for (size_t g = 0; g < G; g++) _mm512_storeu_si512(part + i * NR + 16 * g, acc[i][g]);
    for (size_t i = 0; i < R * NR; i++) acc64[i] += part[i];
  }
  finish64(R, nc, acc64, w, c, c_stride, p);
}

#define CASE32(R) \
  case R: tile32(R, nc, kp, a, a_stride, w, c, c_stride, p); break;
#define CASE64(R) \
  case R: tile64(R, nc, kp, a, a_stride, w, c, c_stride, p); break;

static void ukernel32(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    CASE32(1) CASE32(2) CASE32(3) CASE32(4) CASE32(5) CASE32(6) CASE32(7) CASE32(8)
#if MR > 8
    CASE32(9) CASE32(10) CASE32(11) CASE32(12)
#endif
#if MR > 12
    CASE32(13) CASE32(14)
#endif
    default: break;
  }
}

static void ukernel64(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    CASE64(1) CASE64(2) CASE64(3) CASE64(4) CASE64(5) CASE64(6) CASE64(7) CASE64(8)
#if MR > 8
    CASE64(9) CASE64(10) CASE64(11) CASE64(12)
#endif
#if MR > 12
    CASE64(13) CASE64(14)
#endif
    default: break;
  }
}

#define STR_(x) #x
#define STR(x) STR_(x)
const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__avx512vnni = {
    "qe_qs16_qc8w_gemm_minmax_" STR(MR) "x" STR(NR) "c2__avx512vnni",
    "qe_qs16_qc8w_gemm_acc64_minmax_" STR(MR) "x" STR(NR) "c2__avx512vnni", QE_ISA_AVX512VNNI, MR, NR, 2,
    ukernel32, ukernel64};
