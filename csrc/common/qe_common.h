/* Internal helpers shared by every kernel family. ISA-neutral: no intrinsics here. */
#ifndef QE_COMMON_H
#define QE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define QE_HIDDEN __attribute__((visibility("hidden")))
#define QE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QE_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline size_t qe_round_up(size_t x, size_t q) { return (x + q - 1) / q * q; }
static inline size_t qe_div_up(size_t x, size_t q) { return (x + q - 1) / q; }

/* Pooling: the real (unpadded) input range [lo, hi) of output position o along one axis
 * (int8 and int16 pools alike). */
static inline void qe_pool_window(size_t o, size_t stride, size_t pad, size_t k, size_t size,
                                  size_t* lo, size_t* hi) {
  const size_t start = o * stride; /* in padded coordinates */
  *lo = start < pad ? 0 : start - pad;
  *hi = QE_MIN(size, start + k - pad);
}

/* Requantization, docs/QUANTIZATION.md eq. 5 -- the one rounding of the whole pipeline:
 *   out = clamp(((int64)acc * m0 + 2^(sh-1)) >> sh) + zo, qmin, qmax)
 * Valid for m0 in [0, 2^31), sh in [1, 62]: |acc * m0| < 2^62, so nothing overflows.
 * `>>` on a negative int64 is an arithmetic shift with gcc and clang (documented by both). */
static inline int32_t qe_requant(int32_t acc, int32_t m0, int32_t sh, int32_t zo,
                                 int32_t qmin, int32_t qmax) {
  int64_t x = ((int64_t)acc * m0 + ((int64_t)1 << (sh - 1))) >> sh;
  x += zo;
  if (x < qmin) x = qmin;
  if (x > qmax) x = qmax;
  return (int32_t)x;
}

/* int32 accumulation wraps modulo 2^32 (eq. 3); unsigned arithmetic keeps that defined C. */
static inline int32_t qe_wrap_add(int32_t acc, int32_t v) {
  return (int32_t)((uint32_t)acc + (uint32_t)v);
}

#endif
