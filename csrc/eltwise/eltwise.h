/* Internal: elementwise row microkernels. A row is n outputs; b is either a vector (vv) or
 * one value repeated (vs, "b broadcast"). The driver handles a broadcast a by swapping a
 * and b (and ka, kb): eq. 9 and 10 are symmetric under that swap. */
#ifndef QE_ELTWISE_H
#define QE_ELTWISE_H

#include "common/qe_common.h"
#include "qengine.h"

typedef void (*qe_qs8_vadd_ukernel)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                    const qe_qs8_add_params* p);

#define QE_DECLARE_VADD(isa)                                                                \
  void qe_qs8_vadd_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,       \
                                         int8_t* y, const qe_qs8_add_params* p);           \
  void qe_qs8_vaddc_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,      \
                                          int8_t* y, const qe_qs8_add_params* p);
QE_DECLARE_VADD(scalar)
QE_DECLARE_VADD(avx2)
QE_DECLARE_VADD(avx512vnni)
QE_DECLARE_VADD(neon)

typedef void (*qe_qs8_vmul_ukernel)(size_t n, const int8_t* a, const int8_t* b, int8_t* y,
                                    const qe_qs8_mul_params* p);

#define QE_DECLARE_VMUL(isa)                                                                \
  void qe_qs8_vmul_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,       \
                                         int8_t* y, const qe_qs8_mul_params* p);           \
  void qe_qs8_vmulc_minmax_ukernel__##isa(size_t n, const int8_t* a, const int8_t* b,      \
                                          int8_t* y, const qe_qs8_mul_params* p);
QE_DECLARE_VMUL(scalar)
QE_DECLARE_VMUL(avx2)
QE_DECLARE_VMUL(avx512vnni)
QE_DECLARE_VMUL(neon)

const char* qe_qs8_vadd_name(void);
const char* qe_qs8_vmul_name(void);

#endif
