/* AVX2 16x8 GEMM microkernels: 4 x 16 tile, KR = 2, two ymm columns of 8 channels.
 *
 * Inner step (eq. 20): two int16 of each row are broadcast; vpmaddwd multiplies them by
 * the packed weight pairs and adds each pair into an int32 lane (it cannot overflow:
 * |w| <= 127), vpaddd accumulates. Exactness of the int32 sums as in the AVX-512 kernel.
 *
 * int32 kernel, eq. 5 per channel without a 64-bit arithmetic shift (eq. 6):
 * u = (acc * m0 + 2^(sh-1) + 2^62) >>> sh (logical, the sum is non-negative) equals
 * floor(...) + 2^(62-sh); the clamp is done on u against 2^(62-sh) + [qmin - zo, qmax - zo]
 * in 64 bits, then 2^(62-sh) is taken off and zo added. vpsrlvq shifts per channel.
 * int64 kernel: 512-k int32 blocks added into an int64 tile, then qe_qs16_requant64. */
#include <immintrin.h>
#include <string.h>

#include "common/requant__avx2.h"
#include "qs16/qs16.h"

#define MR 4
#define NR 16
#define G 2

#define INLINE static inline __attribute__((always_inline))

INLINE __m256i bcast2(const int16_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

INLINE void accumulate(const size_t R, __m256i acc[MR][G], const int16_t* const* ar,
                       const int16_t* wk, size_t kb0, size_t kb1) {
  for (size_t kb = kb0; kb < kb1; kb++) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)(wk + kb * 32));
    const __m256i w1 = _mm256_loadu_si256((const __m256i*)(wk + kb * 32 + 16));
    for (size_t i = 0; i < R; i++) {
      const __m256i av = bcast2(ar[i] + 2 * kb);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(av, w0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(av, w1));
    }
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
  __m256i acc[MR][G];
  for (size_t g = 0; g < G; g++) {
    const __m256i b = _mm256_loadu_si256((const __m256i*)(bias + 8 * g));
    for (size_t i = 0; i < R; i++) acc[i][g] = b;
  }
  accumulate(R, acc, ar, wk, 0, kp / 2);
  const __m256i zo = _mm256_set1_epi32(p->zo);
  const size_t esize = p->out8 ? 1 : 2;
  for (size_t g = 0; g < G && 8 * g < nc; g++) {
    const qe_requant_avx2_col r =
        qe_requant_avx2_col_load(m0 + 8 * g, sh + 8 * g, p->zo, p->qmin, p->qmax);
    const size_t cols = QE_MIN((size_t)8, nc - 8 * g);
    for (size_t i = 0; i < R; i++)
      qe_store8_avx2((uint8_t*)c + (i * c_stride + 8 * g) * esize, cols,
                     qe_requant_avx2_col8(acc[i][g], &r, zo), p->out8);
  }
}

INLINE void tile64(const size_t R, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                   const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  const int16_t* wk = (const int16_t*)((const int64_t*)((const int32_t*)w + 3 * NR) + NR);
  const int16_t* ar[MR];
  for (size_t i = 0; i < R; i++) ar[i] = a + i * a_stride;
  int64_t acc64[MR * NR];
  int32_t part[MR * NR];
  memset(acc64, 0, sizeof(acc64));
  const size_t nkb = kp / 2, block = QE_QS16_ACC64_BLOCK / 2;
  for (size_t kb0 = 0; kb0 < nkb; kb0 += block) {
    __m256i acc[MR][G];
    for (size_t i = 0; i < R; i++)
      for (size_t g = 0; g < G; g++) acc[i][g] = _mm256_setzero_si256();
    accumulate(R, acc, ar, wk, kb0, QE_MIN(nkb, kb0 + block));
    for (size_t i = 0; i < R; i++)
      for (size_t g = 0; g < G; g++)
        _mm256_storeu_si256((__m256i*)(part + i * NR + 8 * g), acc[i][g]);
    for (size_t i = 0; i < R * NR; i++) acc64[i] += part[i];
  }
  qe_qs16_finish64(R, nc, NR, acc64, w, c, c_stride, p);
}

static void ukernel32(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    case 1: tile32(1, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 2: tile32(2, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 3: tile32(3, nc, kp, a, a_stride, w, c, c_stride, p); break;
    default: tile32(4, nc, kp, a, a_stride, w, c, c_stride, p); break;
  }
}

static void ukernel64(size_t mr, size_t nc, size_t kp, const int16_t* a, size_t a_stride,
                      const void* w, void* c, size_t c_stride, const qe_qs16_params* p) {
  switch (mr) {
    case 1: tile64(1, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 2: tile64(2, nc, kp, a, a_stride, w, c, c_stride, p); break;
    case 3: tile64(3, nc, kp, a, a_stride, w, c, c_stride, p); break;
    default: tile64(4, nc, kp, a, a_stride, w, c, c_stride, p); break;
  }
}

const qe_qs16_gemm_kernel qe_qs16_gemm_kernel__avx2 = {
    "qe_qs16_qc8w_gemm_minmax_4x16c2__avx2", "qe_qs16_qc8w_gemm_acc64_minmax_4x16c2__avx2",
    QE_ISA_AVX2, MR, NR, 2, ukernel32, ukernel64};
