/* Concatenation along the channel axis (eq. 11): each input's rows are copied (same scale
 * and zero point as the output) or mapped through its eq. 12 requantization table.
 * Tasks are blocks of pixels; each writes its own output rows. */
#include <string.h>

#include "lut/lut.h"

#define QE_CONCAT_BYTES 16384 /* output bytes per task, roughly */

typedef struct {
  qe_x8_lut_ukernel lut;
  size_t pixels, n_inputs, out_c, block;
  const qe_qs8_concat_input* in;
  int8_t* y;
} concat_job;

static void concat_task(void* ctx, size_t t) {
  const concat_job* J = (const concat_job*)ctx;
  const size_t p0 = t * J->block, p1 = QE_MIN(J->pixels, p0 + J->block);
  size_t offset = 0;
  for (size_t k = 0; k < J->n_inputs; k++) {
    const qe_qs8_concat_input* in = &J->in[k];
    const size_t c = in->channels;
    if (c == 0) continue;
    if (in->identity) {
      for (size_t p = p0; p < p1; p++) memcpy(J->y + p * J->out_c + offset, in->x + p * c, c);
    } else if (c == J->out_c) { /* one input: rows are contiguous on both sides */
      J->lut((p1 - p0) * c, in->x + p0 * c, J->y + p0 * c, in->table);
    } else {
      for (size_t p = p0; p < p1; p++)
        J->lut(c, in->x + p * c, J->y + p * J->out_c + offset, in->table);
    }
    offset += c;
  }
}

void qe_qs8_concat(size_t pixels, size_t n_inputs, const qe_qs8_concat_input* inputs,
                   int8_t* y, int num_threads) {
  size_t out_c = 0;
  for (size_t k = 0; k < n_inputs; k++) out_c += inputs[k].channels;
  if (pixels == 0 || out_c == 0) return;
  concat_job J = {qe_x8_lut_ukernel_selected(NULL), pixels, n_inputs, out_c,
                  QE_MAX((size_t)1, QE_CONCAT_BYTES / out_c), inputs, y};
  qe_parallel_for(num_threads, qe_div_up(pixels, J.block), concat_task, &J);
}
