/* eq. 9 (add) and eq. 10 (mul) + eq. 5 with AVX-512, 16 outputs per step, masked tail. */
#include "eltwise/eltwise.h"

#include "common/requant__avx512.h"

#define INLINE static inline __attribute__((always_inline))

enum { ADD, MUL };

/* add: ka, kb, bias (with a constant b folded in); mul: za, zb, b - zb of a constant b */
typedef struct {
  __m512i x, y, z;
} op_consts;

/* eq. 9 / 10 of 16 lanes, va and vb sign-extended; vector_b = 0: b is the constant in k */
INLINE __m512i acc16(int op, __m512i va, __m512i vb, int vector_b, const op_consts* k) {
  if (op == MUL) /* |acc| <= 255 * 255 < 2^16 */
    return _mm512_mullo_epi32(_mm512_sub_epi32(va, k->x),
                              vector_b ? _mm512_sub_epi32(vb, k->y) : k->z);
  const __m512i acc = _mm512_add_epi32(_mm512_mullo_epi32(va, k->x), k->z);
  return vector_b ? _mm512_add_epi32(acc, _mm512_mullo_epi32(vb, k->y)) : acc;
}

/* b == NULL: b is the constant in k */
INLINE void rows(int op, size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                 const qe_requant_avx512* rq, const op_consts* k) {
  while (n > 0) {
    const size_t len = n < 16 ? n : 16;
    const __mmask16 m = qe_mask16(len);
    const __m512i va = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a));
    const __m512i vb = b ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b)) : va;
    _mm_mask_storeu_epi8(y, m, qe_requant_avx512_16(acc16(op, va, vb, b != NULL, k), rq));
    a += len, y += len, n -= len;
    if (b) b += len;
  }
}

/* bc: the constant b of a vs kernel, NULL for a vector b */
static void add_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_add_params* p) {
  const qe_requant_avx512 rq = qe_requant_avx512_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const int32_t bias = bc ? p->bias + (int32_t)*bc * p->kb : p->bias;
  const op_consts k = {_mm512_set1_epi32(p->ka), _mm512_set1_epi32(p->kb),
                       _mm512_set1_epi32(bias)};
  rows(ADD, n, a, b, y, &rq, &k);
}

static void mul_rows(size_t n, const int8_t* a, const int8_t* b, const int8_t* bc, int8_t* y,
                     const qe_qs8_mul_params* p) {
  const qe_requant_avx512 rq = qe_requant_avx512_init(p->m0, p->sh, p->zo, p->qmin, p->qmax);
  const op_consts k = {_mm512_set1_epi32(p->za), _mm512_set1_epi32(p->zb),
                       _mm512_set1_epi32(bc ? (int32_t)*bc - p->zb : 0)};
  rows(MUL, n, a, b, y, &rq, &k);
}

void qe_qs8_vadd_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                            int8_t* y, const qe_qs8_add_params* p) {
  add_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vaddc_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                             int8_t* y, const qe_qs8_add_params* p) {
  add_rows(n, a, NULL, b, y, p);
}

void qe_qs8_vmul_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                            int8_t* y, const qe_qs8_mul_params* p) {
  mul_rows(n, a, b, NULL, y, p);
}

void qe_qs8_vmulc_minmax_ukernel__avx512vnni(size_t n, const int8_t* a, const int8_t* b,
                                             int8_t* y, const qe_qs8_mul_params* p) {
  mul_rows(n, a, NULL, b, y, p);
}
