/* The 16x8 operator ukernels compiled for avx512vnni (see qs16_ops_impl.h), with eq. 5 of
 * the depthwise path in AVX-512 (64-bit lanes: vpmuldq, vpsllvq/vpsravq per channel). */
#include <immintrin.h>

#include "qs16/qs16_ops.h"

static void requant_block_avx512(size_t cb, const int32_t* acc, const int32_t* m0,
                                 const int32_t* sh, int32_t* out, const qe_qs16_params* p) {
  const __m512i lo = _mm512_set1_epi64((int64_t)p->qmin - p->zo);
  const __m512i hi = _mm512_set1_epi64((int64_t)p->qmax - p->zo);
  const __m512i one = _mm512_set1_epi64(1);
  const __m256i zo = _mm256_set1_epi32(p->zo);
  for (size_t j = 0; j < cb; j += 8) {
    const size_t left = cb - j;
    const __mmask8 k = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
    const __m512i a = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, acc + j));
    const __m512i m = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, m0 + j));
    const __m512i s = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, sh + j));
    __m512i x = _mm512_add_epi64(_mm512_mul_epi32(a, m),
                                 _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one)));
    x = _mm512_srav_epi64(x, s);
    x = _mm512_min_epi64(_mm512_max_epi64(x, lo), hi);
    _mm256_mask_storeu_epi32(out + j, k, _mm256_add_epi32(_mm512_cvtepi64_epi32(x), zo));
  }
}

#define QE_QS16_REQUANT_BLOCK requant_block_avx512
#define QE_QS16_OPS_TABLE qe_qs16_ops__avx512vnni
#define QE_QS16_OPS_NAME "avx512vnni"
#include "qs16/qs16_ops_impl.h"
