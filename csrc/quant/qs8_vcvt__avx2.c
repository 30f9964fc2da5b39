/* eq. 17 (quantize) and eq. 18 (dequantize) with AVX2: the scalar float32 operations in the
 * same order, 8 lanes at a time (vmulps, vaddps: no FMA is emitted for separate intrinsics). */
#include "quant/quant.h"

#include <immintrin.h>
#include <string.h>

#include "common/requant__avx2.h"

static inline __m256i q8(__m256 x, __m256 inv, __m256 half, __m256 lo, __m256 hi) {
  __m256 u = _mm256_add_ps(_mm256_mul_ps(x, inv), half);
  u = _mm256_and_ps(u, _mm256_cmp_ps(u, u, _CMP_ORD_Q)); /* NaN -> 0 */
  u = _mm256_min_ps(_mm256_max_ps(u, lo), hi);
  return _mm256_cvttps_epi32(_mm256_floor_ps(u));       /* exact: |u| <= 255 */
}

void qe_f32_qs8_vcvt_ukernel__avx2(size_t n, const float* x, int8_t* y,
                                   const qe_f32_qs8_params* p) {
  const __m256 inv = _mm256_set1_ps(p->inv_scale), half = _mm256_set1_ps(0.5f);
  const __m256 lo = _mm256_set1_ps((float)(-128 - p->zp));
  const __m256 hi = _mm256_set1_ps((float)(127 - p->zp));
  const __m256i zp = _mm256_set1_epi32(p->zp);
  float xbuf[32];
  int8_t ybuf[32];
  while (n > 0) {
    const size_t len = n < 32 ? n : 32;
    const float* src = x;
    if (len < 32) {
      memset(xbuf, 0, sizeof(xbuf));
      memcpy(xbuf, x, len * sizeof(float));
      src = xbuf;
    }
    __m256i r[4];
    for (int k = 0; k < 4; k++)
      r[k] = _mm256_add_epi32(q8(_mm256_loadu_ps(src + 8 * k), inv, half, lo, hi), zp);
    const __m256i out = qe_pack_avx2_32(r[0], r[1], r[2], r[3]);
    if (len < 32) {
      _mm256_storeu_si256((__m256i*)ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      _mm256_storeu_si256((__m256i*)y, out);
    }
    x += len, y += len, n -= len;
  }
}

void qe_qs8_f32_vcvt_ukernel__avx2(size_t n, const int8_t* x, float* y,
                                   const qe_qs8_f32_params* p) {
  const __m256 scale = _mm256_set1_ps(p->scale);
  const __m256i zp = _mm256_set1_epi32(p->zp);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(x + i)));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_sub_epi32(q, zp))));
  }
  qe_qs8_f32_vcvt_ukernel__scalar(n - i, x + i, y + i, p);
}
