/* The 16x8 operator ukernels compiled for scalar (see qs16_ops_impl.h). */
#define QE_QS16_OPS_TABLE qe_qs16_ops__scalar
#define QE_QS16_OPS_NAME "scalar"
#include "qs16/qs16_ops_impl.h"
