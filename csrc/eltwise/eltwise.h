/* Internal: elementwise row microkernels. A row is n outputs; b is either a vector (vv) or
 * one value repeated (vs, "b broadcast"). The driver handles a broadcast a by swapping a
 * and b (and ka, kb): eq. 9 and 10 are symmetric under that swap. */
#ifndef QE_ELTWISE_H
#define QE_ELTWISE_H

#include "common/qe_common.h"
#include "qengine.h"

typedef void (*qe_qs8_vadd_ukernel)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                    const qe_qs8_add_params* p);
typedef void (*qe_qs8_vmul_ukernel)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                    const qe_qs8_mul_params* p);

/* qe_qs8_v<op>_minmax_ukernel__<isa> (b a vector) and qe_qs8_v<op>c_... (b one value) */
#define QE_DECLARE_VBINARY(op, P, isa)                                                      \
  void qe_qs8_v##op##_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,    \
                                            int8_t* y, const P* p);                         \
  void qe_qs8_v##op##c_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,   \
                                             int8_t* y, const P* p);
#define QE_DECLARE_ELTWISE(isa)                           \
  QE_DECLARE_VBINARY(add, qe_qs8_add_params, isa)         \
  QE_DECLARE_VBINARY(mul, qe_qs8_mul_params, isa)
QE_DECLARE_ELTWISE(scalar)
QE_DECLARE_ELTWISE(avx2)
QE_DECLARE_ELTWISE(avx512vnni)
QE_DECLARE_ELTWISE(neon)

const char* qe_qs8_vadd_name(void);
const char* qe_qs8_vmul_name(void);

#endif
