/* Drivers of the 16x8 operators: variant table, threads, pooling windows. ISA-neutral.
 * Work is split into tasks whose boundaries do not depend on the thread count. */
#include <string.h>

#include "qs16/qs16_ops.h"

const qe_qs16_ops* qe_qs16_ops_for(int isa) {
  switch (isa) {
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return &qe_qs16_ops__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return &qe_qs16_ops__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return &qe_qs16_ops__neon;
#ifdef QE_HAVE_NEONDOT
    case QE_ISA_NEONDOT: return &qe_qs16_ops__neon;
#endif
#endif
    default: return &qe_qs16_ops__scalar;
  }
}

static const qe_qs16_ops* ops(void) { return qe_qs16_ops_for(qe_isa_selected()); }

const char* qe_qs16_ops_kernel_name(const char* op) {
  static char buf[96];
  static const char* const known[] = {"dwconv", "add", "maxpool", "avgpool", "gavgpool",
                                      "quantize", "dequantize", "requantize"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (!strcmp(op, known[i])) {
      /* e.g. qe_qs16_add_minmax__avx2 */
      size_t n = 0;
      const char* parts[] = {"qe_qs16_", op, "_minmax__", ops()->isa};
      for (size_t p = 0; p < 4; p++)
        for (const char* s = parts[p]; *s && n + 1 < sizeof(buf); s++) buf[n++] = *s;
      buf[n] = 0;
      return buf;
    }
  return "";
}

#define CHUNK 4096 /* elements per elementwise task */

typedef struct {
  const qe_qs16_ops* k;
  size_t n;
  const void *a, *b;
  void* y;
  const void* p;
  int in16, out16;
} elt_job;

/* Add with numpy broadcasting, as the int8 driver (csrc/eltwise/eltwise.c): rows along the
 * last of the coalesced dims, tasks of (row, chunk of the row); a broadcast a swaps the
 * operands (eq. 23 is symmetric under a <-> b, ka <-> kb; the bias stays). */
typedef struct {
  const qe_qs16_ops* k;
  size_t ndim, rows, n, chunks;
  size_t shape[QE_ELTWISE_MAX_DIMS], as[QE_ELTWISE_MAX_DIMS], bs[QE_ELTWISE_MAX_DIMS];
  const int16_t *a, *b;
  int16_t* y;
  qe_qs16_add_params p, swapped;
} add_job;

static void add_task(void* ctx, size_t t) {
  const add_job* J = (const add_job*)ctx;
  const size_t row = t / J->chunks, i0 = (t % J->chunks) * CHUNK;
  const size_t len = QE_MIN((size_t)CHUNK, J->n - i0);
  size_t ao, bo;
  qe_bcast_row_offsets(J->ndim, J->shape, J->as, J->bs, row, &ao, &bo);
  const size_t ai = J->as[J->ndim - 1], bi = J->bs[J->ndim - 1];
  const int16_t* a = J->a + ao + i0 * ai;
  const int16_t* b = J->b + bo + i0 * bi;
  int16_t* y = J->y + row * J->n + i0;
  if (ai && bi) {
    J->k->add(len, a, b, y, &J->p);
  } else if (ai) {
    J->k->addc(len, a, *b, y, &J->p);
  } else if (bi) {
    J->k->addc(len, b, *a, y, &J->swapped);
  } else { /* one value, repeated */
    J->k->addc(1, a, *b, y, &J->p);
    for (size_t i = 1; i < len; i++) y[i] = y[0];
  }
}

void qe_qs16_add_bcast(size_t ndim, const size_t* shape, const int16_t* a,
                       const size_t* a_strides, const int16_t* b, const size_t* b_strides,
                       int16_t* y, const qe_qs16_add_params* p, int num_threads) {
  add_job J;
  memset(&J, 0, sizeof(J));
  J.k = ops(), J.ndim = ndim, J.a = a, J.b = b, J.y = y, J.p = *p, J.swapped = *p;
  J.swapped.ka = p->kb, J.swapped.kb = p->ka;
  J.rows = 1;
  for (size_t d = 0; d < ndim; d++) {
    J.shape[d] = shape[d], J.as[d] = a_strides[d], J.bs[d] = b_strides[d];
    if (d + 1 < ndim) J.rows *= shape[d];
  }
  J.n = shape[ndim - 1];
  if (J.rows == 0 || J.n == 0) return;
  J.chunks = qe_div_up(J.n, CHUNK);
  qe_parallel_for(J.rows * J.n < CHUNK ? 1 : num_threads, J.rows * J.chunks, add_task, &J);
}

void qe_qs16_add(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                 const qe_qs16_add_params* p, int num_threads) {
  const size_t one = 1;
  qe_qs16_add_bcast(1, &n, a, &one, b, &one, y, p, num_threads);
}

static void quantize_task(void* ctx, size_t t) {
  const elt_job* J = (const elt_job*)ctx;
  const size_t i0 = t * CHUNK, n = QE_MIN((size_t)CHUNK, J->n - i0);
  J->k->quantize(n, (const float*)J->a + i0, (int16_t*)J->y + i0,
                 (const qe_f32_qs8_params*)J->p);
}

void qe_f32_qs16_quantize(size_t n, const float* x, int16_t* y, const qe_f32_qs8_params* p,
                          int num_threads) {
  elt_job J = {ops(), n, x, NULL, y, p, 0, 1};
  qe_parallel_for(num_threads, qe_div_up(n, CHUNK), quantize_task, &J);
}

static void dequantize_task(void* ctx, size_t t) {
  const elt_job* J = (const elt_job*)ctx;
  const size_t i0 = t * CHUNK, n = QE_MIN((size_t)CHUNK, J->n - i0);
  J->k->dequantize(n, (const int16_t*)J->a + i0, (float*)J->y + i0,
                   (const qe_qs8_f32_params*)J->p);
}

void qe_qs16_f32_dequantize(size_t n, const int16_t* x, float* y, const qe_qs8_f32_params* p,
                            int num_threads) {
  elt_job J = {ops(), n, x, NULL, y, p, 1, 0};
  qe_parallel_for(num_threads, qe_div_up(n, CHUNK), dequantize_task, &J);
}

static void requantize_task(void* ctx, size_t t) {
  const elt_job* J = (const elt_job*)ctx;
  const size_t i0 = t * CHUNK, n = QE_MIN((size_t)CHUNK, J->n - i0);
  J->k->requantize(n, (const uint8_t*)J->a + i0 * (J->in16 ? 2 : 1), J->in16,
                   (uint8_t*)J->y + i0 * (J->out16 ? 2 : 1), J->out16,
                   (const qe_qs16_requant_params*)J->p);
}

void qe_qs16_requantize(size_t n, const void* x, int in16, void* y, int out16,
                        const qe_qs16_requant_params* p, int num_threads) {
  elt_job J = {ops(), n, x, NULL, y, p, in16, out16};
  qe_parallel_for(num_threads, qe_div_up(n, CHUNK), requantize_task, &J);
}

/* ---- pooling ------------------------------------------------------------------------------ */

typedef struct {
  const qe_qs16_ops* k;
  const qe_pool_geometry* g;
  const int16_t* x;
  int16_t* y;
  int32_t qmin, qmax;
  const qe_qs8_avgpool_params* avg;
} pool_job;

#define BATCH 16 /* window pixels per ukernel call */
#define CB 256   /* channels per avgpool accumulator block */

/* One task = one output row (n, oy). */
static void maxpool_task(void* ctx, size_t t) {
  const pool_job* J = (const pool_job*)ctx;
  const qe_pool_geometry* g = J->g;
  const size_t n = t / g->oh, oy = t % g->oh, c = g->c;
  size_t y0, y1;
  qe_pool_window(oy, g->stride_h, g->pad_top, g->kh, g->h, &y0, &y1);
  const int16_t* img = J->x + n * g->h * g->w * c;
  for (size_t ox = 0; ox < g->ow; ox++) {
    size_t x0, x1;
    qe_pool_window(ox, g->stride_w, g->pad_left, g->kw, g->w, &x0, &x1);
    int16_t* out = J->y + ((n * g->oh + oy) * g->ow + ox) * c;
    const int16_t* rows[BATCH + 1];
    size_t k = 0;
    for (size_t iy = y0; iy < y1; iy++)
      for (size_t ix = x0; ix < x1; ix++) {
        rows[k++] = img + (iy * g->w + ix) * c;
        if (k == BATCH + 1) {
          J->k->max(c, k, rows, out, -32768, 32767);
          rows[0] = out, k = 1;
        }
      }
    J->k->max(c, k, rows, out, J->qmin, J->qmax);
  }
}

void qe_qs16_maxpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y, int32_t qmin,
                     int32_t qmax, int num_threads) {
  if (g->n == 0 || g->oh == 0 || g->ow == 0 || g->c == 0) return;
  pool_job J = {ops(), g, x, y, qmin, qmax, NULL};
  qe_parallel_for(num_threads, g->n * g->oh, maxpool_task, &J);
}

/* eq. 15: acc = sum over the real pixels of x, minus cnt_real * zi, eq. 5 with the
 * multiplier of the divisor cnt. */
static void avgpool_task(void* ctx, size_t t) {
  const pool_job* J = (const pool_job*)ctx;
  const qe_pool_geometry* g = J->g;
  const qe_qs8_avgpool_params* p = J->avg;
  const size_t n = t / g->oh, oy = t % g->oh, c = g->c;
  size_t y0, y1;
  qe_pool_window(oy, g->stride_h, g->pad_top, g->kh, g->h, &y0, &y1);
  const int16_t* img = J->x + n * g->h * g->w * c;
  for (size_t ox = 0; ox < g->ow; ox++) {
    size_t x0, x1;
    qe_pool_window(ox, g->stride_w, g->pad_left, g->kw, g->w, &x0, &x1);
    int16_t* out = J->y + ((n * g->oh + oy) * g->ow + ox) * c;
    const size_t real = (y1 - y0) * (x1 - x0);
    const size_t cnt = p->count_include_pad ? g->kh * g->kw : real;
    for (size_t c0 = 0; c0 < c; c0 += CB) {
      const size_t cb = QE_MIN((size_t)CB, c - c0);
      int64_t acc[CB];
      memset(acc, 0, sizeof(acc));
      const int16_t* rows[BATCH];
      size_t k = 0;
      for (size_t iy = y0; iy < y1; iy++)
        for (size_t ix = x0; ix < x1; ix++) {
          rows[k++] = img + (iy * g->w + ix) * c + c0;
          if (k == BATCH) J->k->sum(cb, k, rows, acc), k = 0;
        }
      if (k) J->k->sum(cb, k, rows, acc);
      J->k->requant64(cb, acc, -(int64_t)real * p->zi, p->m0[cnt], p->sh[cnt], p->zo, p->qmin,
                      p->qmax, out + c0);
    }
  }
}

void qe_qs16_avgpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y,
                     const qe_qs8_avgpool_params* p, int num_threads) {
  if (g->n == 0 || g->oh == 0 || g->ow == 0 || g->c == 0) return;
  pool_job J = {ops(), g, x, y, 0, 0, p};
  qe_parallel_for(num_threads, g->n * g->oh, avgpool_task, &J);
}

typedef struct {
  const qe_qs16_ops* k;
  size_t n, hw, c, cblocks;
  const int16_t* x;
  int16_t* y;
  const qe_qs16_gavgpool_params* p;
} gavg_job;

/* One task = one (image, block of CB channels). */
static void gavgpool_task(void* ctx, size_t t) {
  const gavg_job* J = (const gavg_job*)ctx;
  const size_t n = t / J->cblocks, c0 = t % J->cblocks * CB, cb = QE_MIN((size_t)CB, J->c - c0);
  const int16_t* img = J->x + n * J->hw * J->c + c0;
  int64_t acc[CB];
  memset(acc, 0, sizeof(acc));
  const int16_t* rows[BATCH];
  size_t k = 0;
  for (size_t i = 0; i < J->hw; i++) {
    rows[k++] = img + i * J->c;
    if (k == BATCH) J->k->sum(cb, k, rows, acc), k = 0;
  }
  if (k) J->k->sum(cb, k, rows, acc);
  const qe_qs16_gavgpool_params* p = J->p;
  J->k->requant64(cb, acc, p->bias, p->m0, p->sh, p->zo, p->qmin, p->qmax, J->y + n * J->c + c0);
}

void qe_qs16_gavgpool(size_t n, size_t hw, size_t c, const int16_t* x, int16_t* y,
                      const qe_qs16_gavgpool_params* p, int num_threads) {
  if (n == 0 || c == 0) return;
  gavg_job J = {ops(), n, hw, c, qe_div_up(c, CB), x, y, p};
  qe_parallel_for(num_threads, n * J.cblocks, gavgpool_task, &J);
}
