/* Scalar reference depthwise microkernel: the contract every SIMD variant must match.
 * eq. 3 (int32 accumulation, wrapping) and eq. 5 (requantization). */
#include "dwconv/dwconv.h"

static void ukernel(size_t channels, size_t pixels, size_t taps, size_t step,
                    const int8_t* const* ind,
                    const void* packed, size_t cpad, int8_t* out, size_t out_stride,
                    const qe_dwconv_params* p) {
  const int32_t* bias = (const int32_t*)packed;
  const int32_t* m0 = bias + cpad;
  const int32_t* sh = m0 + cpad;
  const int8_t* w = (const int8_t*)(bias + 5 * cpad);
  for (size_t px = 0; px < pixels; px++) {
    const int8_t* const* ip = ind + px * step;
    for (size_t c = 0; c < channels; c++) {
      int32_t acc = bias[c];
      for (size_t t = 0; t < taps; t++)
        acc = qe_wrap_add(acc, (int32_t)ip[t][c] * w[t * cpad + c]);
      out[px * out_stride + c] = (int8_t)qe_requant(acc, m0[c], sh[c], p->zo, p->qmin, p->qmax);
    }
  }
}

const qe_dwconv_kernel qe_dwconv_kernels__scalar[] = {
    {"qe_qs8_dwconv_minmax_1c__scalar", 0, ukernel},
    {NULL, 0, NULL},
};
