/* The graph executor: a plan is an array of steps built once at load; running it is one
 * C loop with no allocation. Each step is a kernel entry point plus its op record, whose
 * tensors are byte offsets into one arena (buffers reused by liveness, see plan.py). */
#ifndef QENGINE_RUNTIME_H
#define QENGINE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

typedef void (*qe_step_fn)(const void* op, uint8_t* arena, void* scratch, int num_threads);

typedef struct {
  qe_step_fn fn;
  const void* op;
} qe_step;

/* Runs steps [0, n). If times_ns is not NULL it receives each step's wall time. */
void qe_plan_run(const qe_step* steps, size_t n, uint8_t* arena, void* scratch,
                 int num_threads, uint64_t* times_ns);

/* FullyConnected / 1x1 conv as GEMM: out[m, n] = requant(in[m, :] . W[n, :]) */
typedef struct {
  const struct qe_gemm_kernel* kernel;
  const void* packed_w;
  size_t m, n, k;
  size_t in, out; /* arena byte offsets */
  int32_t zo, qmin, qmax;
} qe_fc_op;
void qe_step_fc(const void* op, uint8_t* arena, void* scratch, int num_threads);

#endif
