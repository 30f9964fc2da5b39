/* Step adapters of the int16-activation ops: arena offsets -> 16x8 kernel calls. */
#include "qengine.h"

void qe_step_fc16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_fc16_op* p = (const qe_fc16_op*)op;
  qe_qs16_gemm_run(p->kernel, p->m, p->n, p->k, (const int16_t*)(arena + p->in), p->k,
                   p->packed_w, arena + p->out, p->n, p->out8, p->zo, p->qmin, p->qmax,
                   scratch, num_threads);
}

void qe_step_conv2d16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_conv16_op* p = (const qe_conv16_op*)op;
  qe_qs16_conv2d_run(&p->conv, p->packed, p->n, p->h, p->w,
                     (const int16_t*)(arena + p->in), arena + p->out, p->out8, p->zo,
                     p->qmin, p->qmax, scratch, num_threads);
}

void qe_step_add16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_add16_op* p = (const qe_add16_op*)op;
  (void)scratch;
  qe_qs16_add_bcast(p->ndim, p->shape, (const int16_t*)(arena + p->a), p->a_strides,
                    (const int16_t*)(arena + p->b), p->b_strides, (int16_t*)(arena + p->out),
                    &p->params, num_threads);
}

void qe_step_maxpool16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_maxpool_op* p = (const qe_maxpool_op*)op;
  (void)scratch;
  qe_qs16_maxpool(&p->g, (const int16_t*)(arena + p->in), (int16_t*)(arena + p->out),
                  p->qmin, p->qmax, num_threads);
}

void qe_step_avgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_avgpool_op* p = (const qe_avgpool_op*)op;
  (void)scratch;
  qe_qs16_avgpool(&p->g, (const int16_t*)(arena + p->in), (int16_t*)(arena + p->out),
                  &p->params, num_threads);
}

void qe_step_gavgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_gavgpool16_op* p = (const qe_gavgpool16_op*)op;
  (void)scratch;
  qe_qs16_gavgpool(p->n, p->hw, p->c, (const int16_t*)(arena + p->in),
                   (int16_t*)(arena + p->out), &p->params, num_threads);
}

void qe_step_requant16(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_requant16_op* p = (const qe_requant16_op*)op;
  (void)scratch;
  qe_qs16_requantize(p->n, arena + p->in, p->in16, arena + p->out, p->out16, &p->params,
                     num_threads);
}
