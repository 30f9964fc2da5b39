/* Internal: pooling microkernels. */
#ifndef QE_POOL_H
#define QE_POOL_H

#include "common/qe_common.h"
#include "qengine.h"

/* Max pool of one output pixel: y[c] = clamp(max_j rows[j][c], qmin, qmax), c in [0, channels),
 * over k >= 1 input rows (the window's real pixels). */
typedef void (*qe_qs8_maxpool_ukernel)(size_t channels, size_t k, const int8_t* const* rows,
                                       int8_t* y, int32_t qmin, int32_t qmax);

/* Average of one window, channels [0, c) (eq. 15, 16): acc = p->bias + the sum of the
 * rows x cols pixels at x + i * row_stride + j * col_stride (i < rows, j < cols), then eq.
 * 5 with p's m0, sh, zo and clamp. A global pool is one row of hw pixels; a pooling window
 * its (y1 - y0) image rows of (x1 - x0) pixels. Needs 255 * rows * cols < 2^31. */
typedef void (*qe_qs8_avgpool_ukernel)(size_t rows, size_t cols, size_t c, const int8_t* x,
                                       size_t row_stride, size_t col_stride, int8_t* y,
                                       const qe_qs8_gavgpool_params* p);

#define QE_DECLARE_POOL(isa)                                                                 \
  void qe_qs8_maxpool_minmax_ukernel__##isa(size_t channels, size_t k,                      \
                                            const int8_t* const* rows, int8_t* y,            \
                                            int32_t qmin, int32_t qmax);                     \
  void qe_qs8_avgpool_minmax_ukernel__##isa(size_t rows, size_t cols, size_t c,             \
                                            const int8_t* x, size_t row_stride,              \
                                            size_t col_stride, int8_t* y,                    \
                                            const qe_qs8_gavgpool_params* p);
QE_DECLARE_POOL(scalar)
QE_DECLARE_POOL(avx2)
QE_DECLARE_POOL(avx512vnni)
QE_DECLARE_POOL(neon)

const char* qe_qs8_maxpool_name(void);
const char* qe_qs8_gavgpool_name(void);
const char* qe_qs8_avgpool_name(void);

#endif
