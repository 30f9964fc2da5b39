/* Internal: the 256-entry lookup microkernels, one per ISA variant (x8_lut_*.c). */
#ifndef QE_LUT_H
#define QE_LUT_H

#include "common/qe_common.h"
#include "qengine.h"

/* y[i] = table[x[i] + 128] for i in [0, n) (eq. 13). */
typedef void (*qe_x8_lut_ukernel)(size_t n, const int8_t* x, int8_t* y, const int8_t* table);

void qe_x8_lut_ukernel__scalar(size_t n, const int8_t* x, int8_t* y, const int8_t* table);
void qe_x8_lut_ukernel__avx2(size_t n, const int8_t* x, int8_t* y, const int8_t* table);
void qe_x8_lut_ukernel__avx512vnni(size_t n, const int8_t* x, int8_t* y, const int8_t* table);
void qe_x8_lut_ukernel__neon(size_t n, const int8_t* x, int8_t* y, const int8_t* table);

/* The kernel of the selected variant (and its name). */
qe_x8_lut_ukernel qe_x8_lut_ukernel_selected(const char** name);

#endif
