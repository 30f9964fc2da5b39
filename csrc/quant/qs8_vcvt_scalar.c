/* Scalar reference of eq. 17 (quantize) and eq. 18 (dequantize).
 *
 * Float32 throughout and no fused multiply-add: setup.py and the CI compile with -std=c11,
 * under which gcc and clang do not contract a * b + c (-ffp-contract=off); each operation
 * is also its own statement. */
#include "quant/quant.h"

#include <math.h>

void qe_f32_qs8_vcvt_ukernel__scalar(size_t n, const float* x, int8_t* y,
                                     const qe_f32_qs8_params* p) {
  const float lo = (float)(-128 - p->zp), hi = (float)(127 - p->zp);
  for (size_t i = 0; i < n; i++) {
    const float t = x[i] * p->inv_scale;
    float u = t + 0.5f;
    if (u != u) u = 0.0f;          /* NaN -> the zero point */
    u = u < lo ? lo : u;           /* clamping first is the same as after floor: */
    u = u > hi ? hi : u;           /* the bounds are integers (and it keeps int conversion exact) */
    y[i] = (int8_t)((int32_t)floorf(u) + p->zp);
  }
}

void qe_qs8_f32_vcvt_ukernel__scalar(size_t n, const int8_t* x, float* y,
                                     const qe_qs8_f32_params* p) {
  for (size_t i = 0; i < n; i++) y[i] = p->scale * (float)((int32_t)x[i] - p->zp);
}
