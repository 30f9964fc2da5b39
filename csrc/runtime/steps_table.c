/* Step adapters of the table-driven ops: Lut, Requantize (a Lut with an eq. 12 table),
 * Concat (per-input tables), Softmax (eq. 19 table); and the empty step. */
#include <string.h>

#include "qengine.h"

size_t qe_concat_scratch_size(size_t n_inputs) {
  return n_inputs * sizeof(qe_qs8_concat_input);
}

void qe_step_concat(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_concat_op* p = (const qe_concat_op*)op;
  qe_qs8_concat_input* inputs = (qe_qs8_concat_input*)scratch;
  memcpy(inputs, p->inputs, qe_concat_scratch_size(p->n_inputs));
  for (size_t k = 0; k < p->n_inputs; k++) inputs[k].x = (const int8_t*)(arena + p->in[k]);
  qe_qs8_concat(p->pixels, p->n_inputs, inputs, (int8_t*)(arena + p->out), num_threads);
}

void qe_step_lut(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_lut_op* p = (const qe_lut_op*)op;
  (void)scratch;
  qe_x8_lut(p->n, (const int8_t*)(arena + p->in), (int8_t*)(arena + p->out), p->table,
            num_threads);
}

void qe_step_softmax(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_softmax_op* p = (const qe_softmax_op*)op;
  (void)scratch;
  if (p->int8_out)
    qe_qs8_softmax_qs8(p->rows, p->n, (const int8_t*)(arena + p->in),
                       (int8_t*)(arena + p->out), p->table, num_threads);
  else
    qe_qs8_softmax_f32(p->rows, p->n, (const int8_t*)(arena + p->in),
                       (float*)(arena + p->out), p->table, num_threads);
}

void qe_step_nop(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  (void)op, (void)arena, (void)scratch, (void)num_threads;
}
