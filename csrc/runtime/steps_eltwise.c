/* Step adapters of the elementwise ops with broadcasting: Add, Mul. */
#include "qengine.h"

void qe_step_add(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_eltwise_op* p = (const qe_eltwise_op*)op;
  (void)scratch;
  qe_qs8_add(p->ndim, p->shape, (const int8_t*)(arena + p->a), p->a_strides,
             (const int8_t*)(arena + p->b), p->b_strides, (int8_t*)(arena + p->out), &p->add,
             num_threads);
}

void qe_step_mul(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_eltwise_op* p = (const qe_eltwise_op*)op;
  (void)scratch;
  qe_qs8_mul(p->ndim, p->shape, (const int8_t*)(arena + p->a), p->a_strides,
             (const int8_t*)(arena + p->b), p->b_strides, (int8_t*)(arena + p->out), &p->mul,
             num_threads);
}
