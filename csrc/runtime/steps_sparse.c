/* Step adapters of the sparse weighted ops: FullyConnected and 1x1 Conv2D stored as CSR
 * (or 4x1 blocks) or as 1x4 K-blocks, through the pack-once sparse API (qengine_sparse.h).
 * Both are one matmul of the activations seen as A [M, K] (M = batch or batch * H * W
 * positions). */
#include "qengine.h"

void qe_step_spmm(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_spmm_op* p = (const qe_spmm_op*)op;
  qe_spmm_run(p->kernel, p->packed, p->m, (const int8_t*)(arena + p->in), p->k,
              (int8_t*)(arena + p->out), p->n, p->zo, p->qmin, p->qmax, scratch, num_threads);
}

void qe_step_spmm_kb4(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_spmm_kb4_op* p = (const qe_spmm_kb4_op*)op;
  qe_spmm_kb4_run(p->kernel, p->packed, p->m, (const int8_t*)(arena + p->in), p->k,
                  (int8_t*)(arena + p->out), p->n, p->zo, p->qmin, p->qmax, scratch,
                  num_threads);
}
