/* The executor loop and the step adapters that unpack op records into kernel calls. */
#define _POSIX_C_SOURCE 199309L
#include <time.h>

#include "qengine.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void qe_plan_run(const qe_step* steps, size_t n, uint8_t* arena, void* scratch,
                 int num_threads, uint64_t* times_ns) {
  if (!times_ns) {
    for (size_t i = 0; i < n; i++) steps[i].fn(steps[i].op, arena, scratch, num_threads);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const uint64_t t0 = now_ns();
    steps[i].fn(steps[i].op, arena, scratch, num_threads);
    times_ns[i] = now_ns() - t0;
  }
}

void qe_step_fc(const void* op, uint8_t* arena, void* scratch, int num_threads) {
  const qe_fc_op* p = (const qe_fc_op*)op;
  qe_gemm_run(p->kernel, p->m, p->n, p->k, (const int8_t*)(arena + p->in), p->k, p->packed_w,
              (int8_t*)(arena + p->out), p->n, p->zo, p->qmin, p->qmax, scratch, num_threads);
}
