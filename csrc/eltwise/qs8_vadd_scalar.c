/* Scalar reference of eq. 9 (add) followed by eq. 5. */
#include "eltwise/eltwise.h"

static inline int8_t add1(int32_t a, int32_t b, const qe_qs8_add_params* p) {
  /* eq. 9: |acc| <= 2 * 255 * 2^20 < 2^29, no overflow */
  const int32_t acc = a * p->ka + b * p->kb + p->bias;
  return (int8_t)qe_requant(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
}

void qe_qs8_vadd_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                        const qe_qs8_add_params* p) {
  for (size_t i = 0; i < n; i++) y[i] = add1(a[i], b[i], p);
}

void qe_qs8_vaddc_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                         const qe_qs8_add_params* p) {
  const int32_t bv = *b;
  for (size_t i = 0; i < n; i++) y[i] = add1(a[i], bv, p);
}
