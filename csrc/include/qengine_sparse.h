/* qengine public C interface: sparse int8 matmul (csrc/sparse/, docs/SPARSE.md).
 *
 * Weights W [N, K] are stored by blocks of BR consecutive output channels ("BR x 1"
 * blocks, block sparse rows): BR = 1 is plain CSR over output channels (DESIGN.md §3),
 * BR = 4 is the blocked format. For block row r (channels r*BR .. r*BR+BR-1):
 *   ptr[r] .. ptr[r+1]-1   its blocks (ptr int32 [ceil(N / BR) + 1], ptr[0] = 0)
 *   idx[b]                 the column k of block b (uint16 when idx_bytes = 2, else int32),
 *                          strictly increasing within a block row, in [0, K)
 *   values[b * BR + j]     W[r*BR + j, idx[b]] (int8 in [-127, 127]; zero fill allowed)
 * The result is bit-identical to qe_gemm_run with W dense (eq. 3 and 5), for every ISA
 * variant and thread count. Same conventions and ranges as qengine.h. */
#ifndef QENGINE_SPARSE_H
#define QENGINE_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qe_spmm_kernel qe_spmm_kernel;

const qe_spmm_kernel* qe_spmm_kernel_for(int isa);  /* NULL if isa is not compiled */
/* e.g. "qe_qs8_spmm_minmax_32x1__avx2" for br = 1 (positions per tile x BR) */
const char* qe_spmm_kernel_name(const qe_spmm_kernel* kernel, int br);

/* Packed weights: ISA-neutral (any kernel runs them), made once at load. br is 1 or 4. */
size_t qe_spmm_packed_size(size_t n, size_t k, int br, size_t nblocks);
void qe_spmm_pack(size_t n, size_t k, int br, const int32_t* ptr, const void* idx,
                  int idx_bytes, const int8_t* values, const int32_t* bias,
                  const int32_t* m0, const int32_t* sh, void* packed);

/* a: row m at a + m * a_stride (bytes), K bytes; c: row m at c + m * c_stride, N bytes. */
size_t qe_spmm_scratch_size(const void* packed, size_t m);
void qe_spmm_run(const qe_spmm_kernel* kernel, const void* packed, size_t m,
                 const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                 int32_t zo, int32_t qmin, int32_t qmax, void* scratch, int num_threads);

/* K-blocked ("1x4") format: the nonzero unit is 4 consecutive input channels of one output
 * channel. For channel n: blocks ptr[n] .. ptr[n+1]-1 (ptr int32 [N + 1], ptr[0] = 0);
 * block b covers k = 4 * kidx[b] .. 4 * kidx[b] + 3 (kidx uint16 when idx_bytes = 2, else
 * int32, strictly increasing within a channel, in [0, ceil(K / 4))), with weights
 * values[4 b + j] = W[n, 4 kidx[b] + j] (int8 in [-127, 127]; 0 where 4 kidx[b] + j >= K).
 * Bit-identical to qe_gemm_run with W dense for every variant and thread count. */
typedef struct qe_spmm_kb4_kernel qe_spmm_kb4_kernel;

const qe_spmm_kb4_kernel* qe_spmm_kb4_kernel_for(int isa); /* NULL if isa is not compiled */
const char* qe_spmm_kb4_kernel_name(const qe_spmm_kb4_kernel* kernel);
size_t qe_spmm_kb4_packed_size(size_t n, size_t k, size_t nblocks);
void qe_spmm_kb4_pack(size_t n, size_t k, const int32_t* ptr, const void* kidx, int idx_bytes,
                      const int8_t* values, const int32_t* bias, const int32_t* m0,
                      const int32_t* sh, void* packed);
/* Below this many rows (M), kernels with a matrix-vector entry run it row by row. */
#define QE_KB4_MV_MAX_M 4

/* The matrix-vector section (csrc/sparse/kb4.h) that batch-1 layers (M < 4) run from on
 * kernels that have it: its size for these weights, and qe_spmm_kb4_pack_mv, which appends
 * it to a buffer of qe_spmm_kb4_packed_size + qe_spmm_kb4_mv_size bytes that
 * qe_spmm_kb4_pack has filled. Without it, those layers run the CSR arrays. */
size_t qe_spmm_kb4_mv_size(size_t n, size_t k, const int32_t* ptr, const void* kidx,
                           int idx_bytes);
void qe_spmm_kb4_pack_mv(void* packed);
size_t qe_spmm_kb4_scratch_size(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                size_t m);
void qe_spmm_kb4_run(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                     const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                     int32_t zo, int32_t qmin, int32_t qmax, void* scratch, int num_threads);
/* The same product in the channel-major layout (NCHW, as sparse inference runs in "Fast
 * Sparse ConvNets" and XNNPACK): a holds A^T [K, M] (input channel k, position m at
 * a[k * a_stride + m], a_stride >= M), c receives C^T [N, M] (c[n * c_stride + m],
 * c_stride >= M). Scratch: qe_spmm_kb4_scratch_size_cm bytes for the same num_threads;
 * bit-identical to qe_spmm_kb4_run transposed. */
size_t qe_spmm_kb4_scratch_size_cm(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                   size_t m, int num_threads);
void qe_spmm_kb4_run_cm(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                        const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                        int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                        int num_threads);
/* The same product in the blocked layout (docs/SPARSE.md): channels in groups of 4, each
 * group a [M, 4] slab. a: input channel 4 kb + j, position m at a[kb * a_stride + 4 m + j]
 * (a_stride >= 4 M; channels past K: any value), c: output channel 4 g + j at
 * c[g * c_stride + 4 m + j] (c_stride >= 4 M; channels past N are written 0). The
 * kernels that have a blocked kernel read the input in place; the others run their
 * channel-major pair per 64 positions. Scratch: qe_spmm_kb4_scratch_size_c4 bytes. */
size_t qe_spmm_kb4_scratch_size_c4(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                   size_t m, int num_threads);
void qe_spmm_kb4_run_c4(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                        const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                        int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                        int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_SPARSE_H */
