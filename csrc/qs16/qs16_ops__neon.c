/* The 16x8 operator ukernels compiled for neon (see qs16_ops_impl.h). */
#define QE_QS16_OPS_TABLE qe_qs16_ops__neon
#define QE_QS16_OPS_NAME "neon"
#include "qs16/qs16_ops_impl.h"
