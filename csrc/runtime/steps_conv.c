/* Step adapters of the weighted ops besides FullyConnected: Conv2D on every path. */
#include "qengine.h"

void qe_step_conv2d(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_conv_op* p = (const qe_conv_op*)op;
  qe_conv2d_run(&p->conv, p->packed, p->n, p->h, p->w, (const int8_t*)(arena + p->in),
                (int8_t*)(arena + p->out), p->zo, p->qmin, p->qmax, scratch, num_threads);
}
