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

/* dst[0, n) = src[0, n) ^ x, for the activation XOR of eq. 7 (x = 0 copies). 16 bytes at a
 * time (a gcc/clang vector: SSE2 or NEON registers); the last chunk may overlap the one
 * before it, which writes the same bytes again, so only n < 8 takes a byte loop. Packing
 * and im2col run this on every activation byte: a memcpy call per short kernel row (9 bytes
 * in a 3-channel stem) or a byte loop cost more than the GEMM after it. */
typedef uint8_t qe_u8x16 __attribute__((vector_size(16)));
static inline void qe_copy_xor(uint8_t* dst, const uint8_t* src, size_t n, uint8_t x) {
  if (n >= 16) {
    const qe_u8x16 xv = (qe_u8x16){0} + x;
    qe_u8x16 v;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __builtin_memcpy(&v, src + i, 16);
      v ^= xv;
      __builtin_memcpy(dst + i, &v, 16);
    }
    if (i < n) {
      __builtin_memcpy(&v, src + n - 16, 16);
      v ^= xv;
      __builtin_memcpy(dst + n - 16, &v, 16);
    }
  } else if (n >= 8) {
    const uint64_t x8 = x * UINT64_C(0x0101010101010101);
    uint64_t lo, hi;
    __builtin_memcpy(&lo, src, 8);
    __builtin_memcpy(&hi, src + n - 8, 8);
    lo ^= x8, hi ^= x8;
    __builtin_memcpy(dst, &lo, 8);
    __builtin_memcpy(dst + n - 8, &hi, 8);
  } else {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ x;
  }
}

/* Broadcasting elementwise ops: the element offsets into a and b of row `row` of an output
 * of shape[0, ndim) walked as rows of its last dim; as/bs are strides in elements, 0 on a
 * broadcast dim. */
static inline void qe_bcast_row_offsets(size_t ndim, const size_t* shape, const size_t* as,
                                        const size_t* bs, size_t row, size_t* ao, size_t* bo) {
  size_t a = 0, b = 0;
  for (size_t d = ndim - 1; d-- > 0;) {
    const size_t idx = row % shape[d];
    row /= shape[d];
    a += idx * as[d];
    b += idx * bs[d];
  }
  *ao = a, *bo = b;
}

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
/* The largest sh for which the SIMD kernels' 32-bit form of eq. 5 (sh >= 33: only the high
 * word of acc * m0, then + zo 2^(sh-32) before the shift) stays exact: |zo| 2^(sh-32) <= 2^29,
 * i.e. sh <= 61 - log2 |zo|, and 54 at most (54 for every int8 zo, 46 for every int16 zo). */
static inline int32_t qe_requant_sh_max(int32_t zo) {
  int32_t sh_max = 54;
  const int64_t zabs = zo < 0 ? -(int64_t)zo : zo;
  while (zabs > ((int64_t)1 << (61 - sh_max))) sh_max--;
  return sh_max;
}

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
