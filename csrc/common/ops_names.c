/* Kernel names of the operator families for the selected variant (profiles, benchmarks).
 * requantize and concat run the "lut" kernel; softmax is scalar only. */
#include <string.h>

#include "eltwise/eltwise.h"
#include "lut/lut.h"
#include "pool/pool.h"
#include "quant/quant.h"

const char* qe_ops_kernel_name(const char* op) {
  const char* name = NULL;
  if (!strcmp(op, "lut")) qe_x8_lut_ukernel_selected(&name);
  else if (!strcmp(op, "add")) name = qe_qs8_vadd_name();
  else if (!strcmp(op, "maxpool")) name = qe_qs8_maxpool_name();
  else if (!strcmp(op, "gavgpool")) name = qe_qs8_gavgpool_name();
  else if (!strcmp(op, "quantize")) name = qe_f32_qs8_name();
  else if (!strcmp(op, "dequantize")) name = qe_qs8_f32_name();
  else if (!strcmp(op, "mul")) name = qe_qs8_vmul_name();
  else if (!strcmp(op, "avgpool")) name = qe_qs8_avgpool_name();
  else if (!strcmp(op, "softmax")) name = "qe_qs8_softmax__scalar";
  return name ? name : "";
}
