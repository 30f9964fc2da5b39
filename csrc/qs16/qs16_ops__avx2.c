/* The 16x8 operator ukernels compiled for avx2 (see qs16_ops_impl.h). */
#define QE_QS16_OPS_TABLE qe_qs16_ops__avx2
#define QE_QS16_OPS_NAME "avx2"
#include "qs16/qs16_ops_impl.h"
