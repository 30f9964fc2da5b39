/* qengine public C interface.
 *
 * Conventions (docs/QUANTIZATION.md has the math; equation numbers refer to it):
 *  - No entry point allocates: scratch memory comes from the caller, sized by a *_size query.
 *  - Entry points trust their arguments. The Cython layer (qengine/_native.pyx, called only
 *    through qengine/kernels.py or the runtime) validates every shape, dtype and range first.
 *  - Ranges: activations int8; weights int8 in [-127, 127]; zo in [-128, 127];
 *    qmin <= qmax within [-128, 127]; m0 in [0, 2^31); sh in [1, 62].
 *  - Results are identical for every ISA variant and every thread count.
 */
#ifndef QENGINE_H
#define QENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ISA variants and dispatch (csrc/common/isa.c) ------------------------------------ */
typedef enum {
  QE_ISA_SCALAR = 0,
  QE_ISA_AVX2 = 1,
  QE_ISA_AVX512VNNI = 2,
  QE_ISA_NEON = 3,
  QE_ISA_NEONDOT = 4,
  QE_ISA_COUNT = 5
} qe_isa;

const char* qe_isa_name(int isa);
int qe_isa_compiled(int isa);   /* the build contains this variant */
int qe_isa_supported(int isa);  /* compiled and this CPU can run it */
int qe_isa_best(void);          /* fastest supported variant */
int qe_isa_selected(void);
int qe_isa_select(int isa);     /* 0 on success, -1 if not supported (nothing changes) */

/* ---- Threads (csrc/common/threadpool.c) -------------------------------------------------- */
/* Calls fn(ctx, i) for every i in [0, n) on up to num_threads threads (the caller is one of
 * them). Returns when all calls are done. If the pool is busy with another caller's job,
 * the work runs on the calling thread alone: same results, no deadlock. */
typedef void (*qe_task_fn)(void* ctx, size_t i);
void qe_parallel_for(int num_threads, size_t n, qe_task_fn fn, void* ctx);

/* ---- Quantized GEMM (csrc/gemm/) -------------------------------------------------------- */
/* C[m, n] = requant(bias[n] + sum_k A[m, k] * W[n, k])   (eq. 3 and 5)
 * W is packed once with qe_gemm_pack_w into the chosen kernel's layout; the packed blob
 * also carries bias (with the kernel's activation-offset correction folded in), m0, sh. */
typedef struct qe_gemm_kernel qe_gemm_kernel;

const qe_gemm_kernel* qe_gemm_kernel_for(int isa);  /* NULL if isa is not compiled */
const char* qe_gemm_kernel_name(const qe_gemm_kernel* kernel);
void qe_gemm_kernel_tile(const qe_gemm_kernel* kernel, int* mr, int* nr, int* kr);

size_t qe_gemm_packed_w_size(const qe_gemm_kernel* kernel, size_t n, size_t k);
void qe_gemm_pack_w(const qe_gemm_kernel* kernel, size_t n, size_t k, const int8_t* w,
                    const int32_t* bias, const int32_t* m0, const int32_t* sh, void* packed_w);

size_t qe_gemm_scratch_size(const qe_gemm_kernel* kernel, size_t m, size_t k);
/* a: row m at a + m * a_stride (bytes); c: row m at c + m * c_stride. */
void qe_gemm_run(const qe_gemm_kernel* kernel, size_t m, size_t n, size_t k,
                 const int8_t* a, size_t a_stride, const void* packed_w,
                 int8_t* c, size_t c_stride, int32_t zo, int32_t qmin, int32_t qmax,
                 void* scratch, int num_threads);

#include "qengine_runtime.h"
#include "qengine_ops.h"
#include "qengine_conv.h"
#include "qengine_sparse.h"
#include "qengine_steps.h"
#include "qengine_qs16.h"
#include "qengine_steps16.h"

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_H */
