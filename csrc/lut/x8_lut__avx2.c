/* eq. 13 with AVX2: a 256-entry table from 16 vpshufb lookups of 16 entries each.
 *
 * vpshufb returns 0 for an index with bit 7 set, and looks at the low 4 bits otherwise.
 * For x >= 0 in [16h, 16h + 16): idx_j = sat(x - 16 j) is >= 0 exactly for j <= h and
 * has the low 4 bits of x, so XOR_j vpshufb(D_j, idx_j) with D_0 = T_0 and
 * D_j = T_j ^ T_{j-1} telescopes to T_h[x & 15]; for x < 0 every idx_j is negative. The same
 * chain on x ^ 0x80 (= x + 128 when x < 0, negative when x >= 0) covers x < 0. */
#include "lut/lut.h"

#include <immintrin.h>
#include <string.h>

void qe_x8_lut_ukernel__avx2(size_t n, const int8_t* x, int8_t* y, const int8_t* table) {
  __m256i d[16]; /* d[0..7]: x >= 0 (table[128 + 16 h ..]); d[8..15]: x < 0 (table[16 h ..]) */
  for (int half = 0; half < 2; half++) {
    const int8_t* t = table + (half ? 0 : 128);
    __m128i prev = _mm_setzero_si128();
    for (int h = 0; h < 8; h++) {
      const __m128i cur = _mm_loadu_si128((const __m128i*)(t + 16 * h));
      d[8 * half + h] = _mm256_broadcastsi128_si256(_mm_xor_si128(cur, prev));
      prev = cur;
    }
  }
  const __m256i step = _mm256_set1_epi8(16), flip = _mm256_set1_epi8((char)0x80);
  int8_t buf[32];
  while (n > 0) {
    const size_t len = n < 32 ? n : 32;
    const int8_t* src = x;
    if (len < 32) { /* tail: through a 32-byte buffer */
      memset(buf, 0, sizeof(buf));
      memcpy(buf, x, len);
      src = buf;
    }
    const __m256i vx = _mm256_loadu_si256((const __m256i*)src);
    __m256i ia = vx, ib = _mm256_xor_si256(vx, flip);
    __m256i r = _mm256_xor_si256(_mm256_shuffle_epi8(d[0], ia), _mm256_shuffle_epi8(d[8], ib));
    for (int h = 1; h < 8; h++) {
      ia = _mm256_subs_epi8(ia, step);
      ib = _mm256_subs_epi8(ib, step);
      r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[h], ia));
      r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[8 + h], ib));
    }
    if (len < 32) {
      _mm256_storeu_si256((__m256i*)buf, r);
      memcpy(y, buf, len);
    } else {
      _mm256_storeu_si256((__m256i*)y, r);
    }
    x += len, y += len, n -= len;
  }
}
