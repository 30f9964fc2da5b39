/* Scalar reference of eq. 10 (mul) followed by eq. 5. */
#include "eltwise/eltwise.h"

static inline int8_t mul1(int32_t a, int32_t b, const qe_qs8_mul_params* p) {
  /* eq. 10: |acc| <= 255 * 255 < 2^16 */
  const int32_t acc = (a - p->za) * (b - p->zb);
  return (int8_t)qe_requant(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
}

void qe_qs8_vmul_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                        const qe_qs8_mul_params* p) {
  for (size_t i = 0; i < n; i++) y[i] = mul1(a[i], b[i], p);
}

void qe_qs8_vmulc_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                         const qe_qs8_mul_params* p) {
  const int32_t bv = *b;
  for (size_t i = 0; i < n; i++) y[i] = mul1(a[i], bv, p);
}
