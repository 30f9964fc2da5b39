/* Step adapters of the pooling ops: MaxPool2D, AvgPool2D, GlobalAvgPool. */
#include "qengine.h"

void qe_step_maxpool(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_maxpool_op* p = (const qe_maxpool_op*)op;
  (void)scratch;
  qe_qs8_maxpool(&p->g, (const int8_t*)(arena + p->in), (int8_t*)(arena + p->out), p->qmin,
                 p->qmax, num_threads);
}

void qe_step_avgpool(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_avgpool_op* p = (const qe_avgpool_op*)op;
  (void)scratch;
  qe_qs8_avgpool(&p->g, (const int8_t*)(arena + p->in), (int8_t*)(arena + p->out),
                 &p->params, num_threads);
}

void qe_step_gavgpool(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_gavgpool_op* p = (const qe_gavgpool_op*)op;
  (void)scratch;
  qe_qs8_gavgpool(p->n, p->hw, p->c, (const int8_t*)(arena + p->in),
                  (int8_t*)(arena + p->out), &p->params, num_threads);
}
