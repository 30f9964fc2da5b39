/* Internal: the per-variant table of 16x8 operator ukernels (qs16_ops_impl.h) and the
 * shared drivers' view of it. ISA-neutral. */
#ifndef QE_QS16_OPS_H
#define QE_QS16_OPS_H

#include "qs16/qs16.h"

/* Depthwise limits: taps per kernel, output pixels per dwconv_row call. */
#define QE_QS16_DW_MAX_TAPS 64
#define QE_QS16_DW_PIXELS 16

typedef struct {
  const char* isa;
  /* Depthwise (eq. 20 per channel over the taps, then eq. 5), `pixels` (<= QE_QS16_DW_PIXELS)
   * output pixels of c channels: ind[px * taps + t] is the input pixel of tap t of output
   * pixel px (or a row of pad_value; c int16 are readable behind each), w is [taps][c];
   * output pixel px is at y + px * c elements (int16, or int8 when p->out8). */
  void (*dwconv_row)(size_t c, size_t pixels, size_t taps, const int16_t* const* ind,
                     const int16_t* w, const int64_t* bias, const int32_t* m0,
                     const int32_t* sh, int acc64, void* y, const qe_qs16_params* p);
  void (*add)(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
              const qe_qs16_add_params* p);
  /* add with b one value repeated (a broadcast b) */
  void (*addc)(size_t n, const int16_t* a, int16_t b, int16_t* y, const qe_qs16_add_params* p);
  void (*max)(size_t c, size_t k, const int16_t* const* rows, int16_t* y, int32_t qmin,
              int32_t qmax);
  void (*sum)(size_t c, size_t k, const int16_t* const* rows, int64_t* acc);
  void (*requant64)(size_t c, const int64_t* acc, int64_t bias, int32_t m0, int32_t sh,
                    int32_t zo, int32_t qmin, int32_t qmax, int16_t* y);
  void (*quantize)(size_t n, const float* x, int16_t* y, const qe_f32_qs8_params* p);
  void (*dequantize)(size_t n, const int16_t* x, float* y, const qe_qs8_f32_params* p);
  void (*requantize)(size_t n, const void* x, int in16, void* y, int out16,
                     const qe_qs16_requant_params* p);
} qe_qs16_ops;

extern const qe_qs16_ops qe_qs16_ops__scalar;
extern const qe_qs16_ops qe_qs16_ops__avx2;
extern const qe_qs16_ops qe_qs16_ops__avx512vnni;
extern const qe_qs16_ops qe_qs16_ops__neon;

/* The table of ISA variant isa (neondot runs neon). */
const qe_qs16_ops* qe_qs16_ops_for(int isa);

#endif
