/* eq. 17 (quantize) with AVX-512: the scalar float32 operations in the same order, 16 lanes
 * at a time, masked tail. Dequantize (eq. 18) runs the AVX2 kernel on this variant: a
 * 512-bit version measured ~1.5x slower than AVX2 here (split unaligned 64-byte stores). */
#include "quant/quant.h"

#include "common/requant__avx512.h"

void qe_f32_qs8_vcvt_ukernel__avx512vnni(size_t n, const float* x, int8_t* y,
                                         const qe_f32_qs8_params* p) {
  const __m512 inv = _mm512_set1_ps(p->inv_scale), half = _mm512_set1_ps(0.5f);
  const __m512 lo = _mm512_set1_ps((float)(-128 - p->zp));
  const __m512 hi = _mm512_set1_ps((float)(127 - p->zp));
  const __m512i zp = _mm512_set1_epi32(p->zp);
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const __mmask16 m = qe_mask16(len);
    __m512 u = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), inv), half);
    u = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, u, _CMP_ORD_Q), u); /* NaN -> 0 */
    u = _mm512_min_ps(_mm512_max_ps(u, lo), hi);
    u = _mm512_roundscale_ps(u, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(u), zp);
    _mm_mask_storeu_epi8(y, m, _mm512_cvtsepi32_epi8(q));
    x += len, y += len, n -= len;
  }
}
