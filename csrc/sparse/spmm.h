/* Internal sparse-matmul interface (docs/SPARSE.md). One qe_spmm_kernel per ISA variant;
 * all of them read the one packed layout below, made by qe_spmm_pack (spmm.c).
 *
 * Packed weights, for N channels in block rows of BR (1 or 4) channels:
 *   qe_spmm_header (64 bytes)
 *   int32 bias[Np], m0[Np], sh[Np]   Np = nrows * BR; channels past N: 0, 0, 1
 *   int32 pptr[nrows + 1]            pairs of blocks of block row r: pptr[r] .. pptr[r+1]-1
 *   int32 pidx[2 * npairs]           the two columns k of each pair
 *   int16 pw[npairs][BR][2]          pw[p][j] = {W[r*BR+j, pidx[2p]], W[r*BR+j, pidx[2p+1]]}
 * Blocks go in pairs so that a SIMD kernel multiplies two activation rows at once with a
 * 16-bit pair multiply-add (vpmaddwd / vpdpwssd). A block row with an odd block count gets
 * one dummy block: its own first column again, weight 0, which adds exactly 0 (eq. 3).
 *
 * Transposed activations (M > 1), made by the driver in caller scratch:
 *   int16 at[K][Mp]   at[k][m] = A[m, k], Mp = round_up(M, QE_SPMM_MP), zero padded,
 * so that one nonzero weight multiplies a contiguous vector of positions (Elsen et al.). */
#ifndef QE_SPMM_H
#define QE_SPMM_H

#include "common/qe_common.h"
#include "qengine.h"

#define QE_SPMM_MP 32 /* position padding of `at`: every kernel tile divides it */
#define QE_SPMM_MAGIC 0x4D4D5053u /* "SPMM" */

typedef struct {
  uint64_t n, k, nrows, npairs;
  uint32_t br, magic;
  uint32_t reserved[6];
} qe_spmm_header;
_Static_assert(sizeof(qe_spmm_header) == 64, "packed header is 64 bytes");

typedef struct {
  size_t n, k, br, nrows;
  const int32_t *bias, *m0, *sh, *pptr, *pidx;
  const int16_t* pw;
} qe_spmm_w;

typedef struct {
  int32_t zo, qmin, qmax;
} qe_spmm_params;

/* Block rows [r0, r1) for positions [mb, me) (mb a multiple of the tile; reads `at` up to
 * round_up(me, tile) <= Mp). at_stride = Mp. c: position m, channel n at c[m*c_stride+n]. */
typedef void (*qe_spmm_mm_fn)(const qe_spmm_w* W, size_t r0, size_t r1, const int16_t* at,
                              size_t at_stride, size_t mb, size_t me, int8_t* c,
                              size_t c_stride, const qe_spmm_params* p);
/* Block rows [r0, r1) for one activation row a (K bytes), c one output row. a32 is the
 * same row widened for 32-bit gathers: a32[k] = (uint16_t)a[k] sign-extended to 16 bits
 * and zero-extended to 32, so a 16-bit multiply-add of a32[k] by a sign-extended weight
 * gives exactly a[k] * w (the upper halves multiply to 0). */
typedef void (*qe_spmm_mv_fn)(const qe_spmm_w* W, size_t r0, size_t r1, const int8_t* a,
                              const uint32_t* a32, int8_t* c, const qe_spmm_params* p);

/* Positions [m0, m0 + QE_SPMM_MP) of A [M, K] into at (zero past M): one driver task. */
typedef void (*qe_spmm_transpose_fn)(size_t m0, size_t m, size_t k, const int8_t* a,
                                     size_t a_stride, int16_t* at, size_t at_stride);

struct qe_spmm_kernel {
  const char* name[2]; /* for BR = 1 and BR = 4: file, test and profile name */
  int isa;
  uint32_t tile;       /* positions per mm tile */
  qe_spmm_mm_fn mm;
  qe_spmm_mv_fn mv;
  qe_spmm_transpose_fn transpose;
};

extern const qe_spmm_kernel qe_spmm_kernel__scalar;
extern const qe_spmm_kernel qe_spmm_kernel__avx2;
extern const qe_spmm_kernel qe_spmm_kernel__avx512vnni;
extern const qe_spmm_kernel qe_spmm_kernel__neon;

/* The scalar matrix-vector kernel (M = 1); SIMD variants may reuse it. */
void qe_spmm_mv__scalar(const qe_spmm_w* W, size_t r0, size_t r1, const int8_t* a,
                        const uint32_t* a32, int8_t* c, const qe_spmm_params* p);

void qe_spmm_transpose__scalar(size_t m0, size_t m, size_t k, const int8_t* a,
                               size_t a_stride, int16_t* at, size_t at_stride);

/* Writes mt requantized results of one channel to positions m .. m+mt-1 of c. */
static inline void qe_spmm_scatter(const int8_t* v, size_t mt, int8_t* c, size_t c_stride) {
  for (size_t i = 0; i < mt; i++) c[i * c_stride] = v[i];
}

#endif
