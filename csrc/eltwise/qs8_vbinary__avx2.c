/* eq. 9 (add) and eq. 10 (mul) + eq. 5 with AVX2, 32 outputs per step (a short tail
 * through a stack copy); int32 lanes (|acc| < 2^29), requantized by the shared AVX2 eq. 5
 * (common/requant__avx2.h). */
#include "eltwise/eltwise.h"

#include <string.h>

#include "common/requant__avx2.h"

#define INLINE static inline __attribute__((always_inline))

enum { ADD, MUL };

/* add: ka, kb, bias (with a constant b folded in); mul: za, zb, b - zb of a constant b */
typedef struct {
  __m256i x, y, z;
} op_consts;

static inline __m256i load8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p));
}

/* eq. 9 / 10 of 8 lanes; pb == NULL: b is the constant in k */
INLINE __m256i acc8(int op, const int8_t* pa, const int8_t* pb, const op_consts* k) {
  if (op == MUL) /* |acc| <= 255 * 255 < 2^16 */
    return _mm256_mullo_epi32(_mm256_sub_epi32(load8(pa), k->x),
                              pb ? _mm256_sub_epi32(load8(pb), k->y) : k->z);
  const __m256i acc = _mm256_add_epi32(_mm256_mullo_epi32(load8(pa), k->x), k->z);
  return pb ? _mm256_add_epi32(acc, _mm256_mullo_epi32(load8(pb), k->y)) : acc;
}

/* b == NULL: b is the constant in k */
INLINE void rows(int op, size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                 const qe_requant_avx2* rq, const op_consts* k) {
  int8_t abuf[32], bbuf[32], ybuf[32];
  while (n > 0) {
    const size_t len = n < 32 ? n : 32;
    const int8_t *pa = a, *pb = b;
    if (len < 32) {
      memset(abuf, 0, 32), memset(bbuf, 0, 32);
      memcpy(abuf, a, len);
      if (b) memcpy(bbuf, b, len);
      pa = abuf, pb = b ? bbuf : NULL;
    }
    __m256i r[4];
    for (int q = 0; q < 4; q++)
      r[q] = qe_requant_avx2_8(acc8(op, pa + 8 * q, pb ? pb + 8 * q : NULL, k), rq);
    const __m256i out = qe_pack_avx2_32(r[0], r[1], r[2], r[3]);
    if (len < 32) {
      _mm256_storeu_si256((__m256i*)ybuf, out);
      memcpy(y, ybuf, len);
    } else {
      _mm256_storeu_si256((__m256i*)y, out);
    }
    a += len, y += len, n -= len;
    if (b) b += len;
  }
}

/* bc: the constant b of a vs kernel, NULL for a vector b */
static void add_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_add_params* p) {
  const qe_requant_avx2 rq = qe_requant_avx2_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const int32_t bias = bc ? p->bias + (int32_t)*bc * p->kb : p->bias;
  const op_consts k = {_mm256_set1_epi32(p->ka), _mm256_set1_epi32(p->kb),
                       _mm256_set1_epi32(bias)};
  rows(ADD, n, a, b, y, &rq, &k);
}

static void mul_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_mul_params* p) {
  const qe_requant_avx2 rq = qe_requant_avx2_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const op_consts k = {_mm256_set1_epi32(p->za), _mm256_set1_epi32(p->zb),
                       _mm256_set1_epi32(bc ? (int32_t)*bc - p->zb : 0)};
  rows(MUL, n, a, b, y, &rq, &k);
}

void qe_qs8_vadd_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_add_params* p) {
  add_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_add_params* p) {
  add_rows(n, a, NULL, b, y, p);
}

void qe_qs8_vmul_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                      const qe_qs8_mul_params* p) {
  mul_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__avx2(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                       const qe_qs8_mul_params* p) {
  mul_rows(n, a, NULL, b, y, p);
}
