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

/* eq. 23 + eq. 5 in int32 lanes (docs/QUANTIZATION.md section 13, eq. 28), for the SIMD
 * adds: with e = max(0, 42 - sh), KA = ka m0 2^e, KB = kb m0 2^e and
 * C = bias m0 2^e + 2^(sh + e - 1), the rounded product is a KA + b KB + C. KA, KB, C are
 * split into 14-bit digits (0 <= digit < 2^14; the top one signed, = floor(/ 2^42)), and
 *   t = c[0] + a ka[0] + b kb[0];   t = c[i] + (t >> 14) + a ka[i] + b kb[i]  (i = 1..3)
 * leaves t = floor((a KA + b KB + C) / 2^42); then eq. 5 is t >> f, f = sh + e - 42.
 * Every step fits int32 (|t| < 2^30 + 2^17 below the top, < 2^30 + 2^29 + 2^17 at it). */
typedef struct {
  int16_t ka[4], kb[4];
  int32_t c[4];
  int32_t f;
} qe_qs16_add_digits;

/* The int64-accumulator path of the SIMD depthwise kernels: n exact int32 tap sums plus
 * the int64 bias, requantized one by one (eq. 5 in 64 bits) and stored as int8 or int16. */
static inline void qe_qs16_store_sums64(void* out, const int32_t* sums, size_t n,
                                        const int64_t* bias, const int32_t* m0,
                                        const int32_t* sh, const qe_qs16_params* p) {
  for (size_t j = 0; j < n; j++)
    qe_qs16_store1(out, j, qe_qs16_requant64(sums[j] + bias[j], m0[j], sh[j], p->zo, p->qmin,
                                             p->qmax),
                   p->out8);
}

/* Fills d for y = eq. 5 (a ka + b kb + bias, m0, sh) and returns 1, or returns 0 when the
 * parameters are outside the domain of eq. 28 (then the caller runs the plain C). The
 * parameters of eq. 23 (ka, kb in [0, 2^20], |bias| <= 2^37, sh in [39, 62]) always fit.
 * C is formed as H 2^32 + L (0 <= L < 2^32) in 64-bit pieces: ARMv7 has no int128. */
static inline int qe_qs16_add_digits_init(int64_t ka, int64_t kb, int64_t bias, int32_t m0,
                                          int32_t sh, qe_qs16_add_digits* d) {
  const int64_t lim = (int64_t)1 << 20;
  if (sh < 32 || sh > 62 || m0 < 0 || ka < -lim || ka > lim || kb < -lim || kb > lim ||
      bias < -((int64_t)1 << 40) || bias > ((int64_t)1 << 40))
    return 0;
  const int e = sh < 42 ? 42 - sh : 0;
  const int64_t KA = ka * m0 * ((int64_t)1 << e), KB = kb * m0 * ((int64_t)1 << e);
  const int64_t top = (int64_t)1 << 14;
  if ((KA >> 42) < -top || (KA >> 42) >= top || (KB >> 42) < -top || (KB >> 42) >= top)
    return 0;
  const int64_t hi = bias >> 32;
  const uint64_t plo = ((uint64_t)bias & 0xFFFFFFFFu) * (uint64_t)m0;
  int64_t H = hi * m0 + (int64_t)(plo >> 32);
  uint64_t L = plo & 0xFFFFFFFFu;
  H = H * ((int64_t)1 << e) + (int64_t)(L >> (32 - e));
  L = (L << e) & 0xFFFFFFFFu;
  H += (int64_t)1 << (sh + e - 33); /* 2^(sh + e - 1), sh + e - 1 >= 41 */
  const int64_t c3 = H >> 10;
  if (c3 < -((int64_t)1 << 29) || c3 > ((int64_t)1 << 29)) return 0;
  for (int i = 0; i < 3; i++) {
    d->ka[i] = (int16_t)((KA >> (14 * i)) & 0x3FFF);
    d->kb[i] = (int16_t)((KB >> (14 * i)) & 0x3FFF);
  }
  d->ka[3] = (int16_t)(KA >> 42), d->kb[3] = (int16_t)(KB >> 42);
  d->c[0] = (int32_t)(L & 0x3FFF);
  d->c[1] = (int32_t)((L >> 14) & 0x3FFF);
  d->c[2] = (int32_t)(((L >> 28) | ((uint64_t)H << 4)) & 0x3FFF);
  d->c[3] = (int32_t)c3;
  d->f = sh + e - 42;
  return 1;
}

extern const qe_qs16_ops qe_qs16_ops__scalar;
extern const qe_qs16_ops qe_qs16_ops__avx2;
extern const qe_qs16_ops qe_qs16_ops__avx512vnni;
extern const qe_qs16_ops qe_qs16_ops__neon;

/* The table of ISA variant isa (neondot runs neon). */
const qe_qs16_ops* qe_qs16_ops_for(int isa);

#endif
