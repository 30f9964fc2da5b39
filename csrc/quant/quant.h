/* Internal: float32 <-> int8 conversion microkernels (eq. 17, 18). */
#ifndef QE_QUANT_H
#define QE_QUANT_H

#include "common/qe_common.h"
#include "qengine.h"

typedef void (*qe_f32_qs8_ukernel)(size_t n, const float* x, int8_t* y,
                                   const qe_f32_qs8_params* p);
typedef void (*qe_qs8_f32_ukernel)(size_t n, const int8_t* x, float* y,
                                   const qe_qs8_f32_params* p);

#define QE_DECLARE_CVT(isa)                                                                  \
  void qe_f32_qs8_vcvt_ukernel__##isa(size_t n, const float* x, int8_t* y,                  \
                                      const qe_f32_qs8_params* p);                           \
  void qe_qs8_f32_vcvt_ukernel__##isa(size_t n, const int8_t* x, float* y,                  \
                                      const qe_qs8_f32_params* p);
QE_DECLARE_CVT(scalar)
QE_DECLARE_CVT(avx2)
void qe_f32_qs8_vcvt_ukernel__avx512vnni(size_t n, const float* x, int8_t* y,
                                         const qe_f32_qs8_params* p);
QE_DECLARE_CVT(neon)

const char* qe_f32_qs8_name(void);
const char* qe_qs8_f32_name(void);

#endif
