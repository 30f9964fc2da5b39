/* Scalar reference of eq. 13: y = table[x + 128]. */
#include "lut/lut.h"

void qe_x8_lut_ukernel__scalar(size_t n, const int8_t* x, int8_t* y, const int8_t* table) {
  for (size_t i = 0; i < n; i++) y[i] = table[(uint8_t)(x[i] ^ 0x80)];
}
