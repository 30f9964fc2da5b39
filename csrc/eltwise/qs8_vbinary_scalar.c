/* Scalar reference of eq. 9 (add) and eq. 10 (mul), each followed by eq. 5. */
#include "eltwise/eltwise.h"

static inline int8_t add1(int32_t a, int32_t b, const qe_qs8_add_params* p) {
  /* eq. 9: |acc| <= 2 * 255 * 2^20 < 2^29, no overflow */
  const int32_t acc = a * p->ka + b * p->kb + p->bias;
  return (int8_t)qe_requant(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
}

static inline int8_t mul1(int32_t a, int32_t b, const qe_qs8_mul_params* p) {
  /* eq. 10: |acc| <= 255 * 255 < 2^16 */
  const int32_t acc = (a - p->za) * (b - p->zb);
  return (int8_t)qe_requant(acc, p->m0, p->sh, p->zo, p->qmin, p->qmax);
}

/* b a vector (vv) or the value *b (vs) */
#define ROWS(op, P)                                                                         \
  void qe_qs8_v##op##_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b,   \
                                             int8_t* y, const P* p) {                       \
    for (size_t i = 0; i < n; i++) y[i] = op##1(a[i], b[i], p);                             \
  }                                                                                         \
  void qe_qs8_v##op##c_minmax_ukernel__scalar(size_t n, const int8_t* a, const int8_t* b,  \
                                              int8_t* y, const P* p) {                      \
    const int32_t bv = *b;                                                                  \
    for (size_t i = 0; i < n; i++) y[i] = op##1(a[i], bv, p);                               \
  }
ROWS(add, qe_qs8_add_params)
ROWS(mul, qe_qs8_mul_params)
