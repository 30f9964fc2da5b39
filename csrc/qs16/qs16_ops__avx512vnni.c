/* The 16x8 operator ukernels compiled for avx512vnni (see qs16_ops_impl.h). */
#define QE_QS16_OPS_TABLE qe_qs16_ops__avx512vnni
#define QE_QS16_OPS_NAME "avx512vnni"
#include "qs16/qs16_ops_impl.h"
