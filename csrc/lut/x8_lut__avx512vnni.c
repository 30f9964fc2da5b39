/* eq. 13 with AVX-512BW: the vpshufb chain of x8_lut__avx2.c on 64 bytes (vpermb would do
 * it in two instructions but needs VBMI, which the avx512vnni variant does not require). */
#include "lut/lut.h"

#include "common/requant__avx512.h"

void qe_x8_lut_ukernel__avx512vnni(size_t n, const int8_t* x, int8_t* y, const int8_t* table) {
  __m512i d[16]; /* d[0..7]: x >= 0 (table[128 + 16 h ..]); d[8..15]: x < 0 (table[16 h ..]) */
  for (int half = 0; half < 2; half++) {
    const int8_t* t = table + (half ? 0 : 128);
    __m128i prev = _mm_setzero_si128();
    for (int h = 0; h < 8; h++) {
      const __m128i cur = _mm_loadu_si128((const __m128i*)(t + 16 * h));
      d[8 * half + h] = _mm512_broadcast_i32x4(_mm_xor_si128(cur, prev));
      prev = cur;
    }
  }
  const __m512i step = _mm512_set1_epi8(16), flip = _mm512_set1_epi8((char)0x80);
  while (n > 0) {
    const size_t len = n < 64 ? n : 64;
    const __mmask64 m = qe_mask64(len);
    const __m512i vx = _mm512_maskz_loadu_epi8(m, x);
    __m512i ia = vx, ib = _mm512_xor_si512(vx, flip);
    __m512i r = _mm512_xor_si512(_mm512_shuffle_epi8(d[0], ia), _mm512_shuffle_epi8(d[8], ib));
    for (int h = 1; h < 8; h++) {
      ia = _mm512_subs_epi8(ia, step);
      ib = _mm512_subs_epi8(ib, step);
      r = _mm512_xor_si512(r, _mm512_shuffle_epi8(d[h], ia));
      r = _mm512_xor_si512(r, _mm512_shuffle_epi8(d[8 + h], ib));
    }
    _mm512_mask_storeu_epi8(y, m, r);
    x += len, y += len, n -= len;
  }
}
