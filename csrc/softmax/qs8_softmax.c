/* Softmax over the last axis (eq. 19): int8 in, float32 or int8 (scale 1/256, zero point
 * -128) out. Scalar only: it runs once per model on the final logits. Every step is
 * integer except the one float32 division per output, so the result is exact and the same
 * on every CPU: e_i comes from a 256-entry table of round(2^23 exp(-s d)) indexed by the
 * integer distance d = max - x_i, and S = sum e_i is exact in 64 bits. */
#include "common/qe_common.h"
#include "qengine.h"

typedef struct {
  size_t n;
  const int8_t* x;
  void* y;
  const uint32_t* table;
  int int8_out;
} softmax_job;

static void softmax_task(void* ctx, size_t r) {
  const softmax_job* J = (const softmax_job*)ctx;
  const int8_t* x = J->x + r * J->n;
  int32_t mx = -128;
  for (size_t i = 0; i < J->n; i++) mx = QE_MAX(mx, (int32_t)x[i]);
  uint64_t s = 0; /* >= table[0] = 2^23 > 0 */
  for (size_t i = 0; i < J->n; i++) s += J->table[mx - x[i]];
  if (J->int8_out) {
    int8_t* y = (int8_t*)J->y + r * J->n;
    for (size_t i = 0; i < J->n; i++) {
      /* round half up of 256 e / S, one integer division: e <= 2^23, so 512 e + S fits */
      const uint64_t e = J->table[mx - x[i]];
      const int64_t q = (int64_t)((512 * e + s) / (2 * s)) - 128;
      y[i] = (int8_t)QE_MIN(q, 127);
    }
  } else {
    float* y = (float*)J->y + r * J->n;
    const float fs = (float)s;
    for (size_t i = 0; i < J->n; i++) y[i] = (float)J->table[mx - x[i]] / fs;
  }
}

static void run(size_t rows, size_t n, const int8_t* x, void* y, const uint32_t* table,
                int int8_out, int num_threads) {
  if (rows == 0 || n == 0) return;
  softmax_job J = {n, x, y, table, int8_out};
  if (rows * n < 16384) num_threads = 1;
  qe_parallel_for(num_threads, rows, softmax_task, &J);
}

void qe_qs8_softmax_f32(size_t rows, size_t n, const int8_t* x, float* y,
                        const uint32_t table[256], int num_threads) {
  run(rows, n, x, y, table, 0, num_threads);
}

void qe_qs8_softmax_qs8(size_t rows, size_t n, const int8_t* x, int8_t* y,
                        const uint32_t table[256], int num_threads) {
  run(rows, n, x, y, table, 1, num_threads);
}
