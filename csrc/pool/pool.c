/* Pooling drivers: windows with asymmetric padding (eq. 14, 15), global average (eq. 16),
 * kernel tables, threads. Padded positions are never read: a window is clipped to the
 * image, so max pool ignores padding and average pool counts only what it must. */
#include "pool/pool.h"

#include "common/qe_dispatch.h"

static const struct {
  const char *maxpool_name, *gavgpool_name, *avgpool_name;
  qe_qs8_maxpool_ukernel maxpool;
  qe_qs8_avgpool_ukernel avgpool; /* windows and global pools alike */
} kPool[QE_ISA_COUNT] = {
#define ENTRY(isa)                                                                       \
  {"qe_qs8_maxpool_minmax__" #isa, "qe_qs8_gavgpool_minmax__" #isa,                      \
   "qe_qs8_avgpool_minmax__" #isa, qe_qs8_maxpool_minmax_ukernel__##isa,                 \
   qe_qs8_avgpool_minmax_ukernel__##isa}
    [QE_ISA_SCALAR] = ENTRY(scalar),
#ifdef QE_HAVE_AVX2
    [QE_ISA_AVX2] = ENTRY(avx2),
#endif
#ifdef QE_HAVE_AVX512VNNI
    [QE_ISA_AVX512VNNI] = ENTRY(avx512vnni),
#endif
#ifdef QE_HAVE_NEON
    [QE_ISA_NEON] = ENTRY(neon),
#endif
#undef ENTRY
};

const char* qe_qs8_maxpool_name(void) { return kPool[QE_PICK(kPool, maxpool)].maxpool_name; }
const char* qe_qs8_gavgpool_name(void) { return kPool[QE_PICK(kPool, avgpool)].gavgpool_name; }
const char* qe_qs8_avgpool_name(void) { return kPool[QE_PICK(kPool, avgpool)].avgpool_name; }

typedef struct {
  const qe_pool_geometry* g;
  const int8_t* x;
  int8_t* y;
  int32_t qmin, qmax;
  const qe_qs8_avgpool_params* avg;
  qe_qs8_maxpool_ukernel maxpool;
  qe_qs8_avgpool_ukernel avgpool;
} pool_job;

#define QE_MAXPOOL_BATCH 16 /* window pixels per ukernel call */

/* One task = one output row (n, oy). */
static void maxpool_task(void* ctx, size_t t) {
  const pool_job* J = (const pool_job*)ctx;
  const qe_pool_geometry* g = J->g;
  const size_t n = t / g->oh, oy = t % g->oh, c = g->c;
  size_t y0, y1;
  qe_pool_window(oy, g->stride_h, g->pad_top, g->kh, g->h, &y0, &y1);
  const int8_t* img = J->x + n * g->h * g->w * c;
  for (size_t ox = 0; ox < g->ow; ox++) {
    size_t x0, x1;
    qe_pool_window(ox, g->stride_w, g->pad_left, g->kw, g->w, &x0, &x1);
    int8_t* out = J->y + ((n * g->oh + oy) * g->ow + ox) * c;
    /* batches of window pixels; later batches fold in the running max kept in out */
    const int8_t* rows[QE_MAXPOOL_BATCH + 1];
    size_t k = 0;
    for (size_t iy = y0; iy < y1; iy++)
      for (size_t ix = x0; ix < x1; ix++) {
        rows[k++] = img + (iy * g->w + ix) * c;
        if (k == QE_MAXPOOL_BATCH + 1) {
          J->maxpool(c, k, rows, out, -128, 127);
          rows[0] = out, k = 1;
        }
      }
    J->maxpool(c, k, rows, out, J->qmin, J->qmax);
  }
}

void qe_qs8_maxpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y, int32_t qmin,
                    int32_t qmax, int num_threads) {
  if (g->n == 0 || g->oh == 0 || g->ow == 0 || g->c == 0) return;
  pool_job J = {g, x, y, qmin, qmax, NULL, kPool[QE_PICK(kPool, maxpool)].maxpool, NULL};
  qe_parallel_for(num_threads, g->n * g->oh, maxpool_task, &J);
}

/* Average pool (eq. 15): one task = one output row (n, oy); each output pixel's window,
 * clipped to the image, is (y1 - y0) image rows of (x1 - x0) pixels, summed by the
 * ukernel over all channels with the divisor count's multiplier. */
static void avgpool_task(void* ctx, size_t t) {
  const pool_job* J = (const pool_job*)ctx;
  const qe_pool_geometry* g = J->g;
  const qe_qs8_avgpool_params* p = J->avg;
  const size_t n = t / g->oh, oy = t % g->oh, c = g->c;
  size_t y0, y1;
  qe_pool_window(oy, g->stride_h, g->pad_top, g->kh, g->h, &y0, &y1);
  const int8_t* img = J->x + n * g->h * g->w * c;
  for (size_t ox = 0; ox < g->ow; ox++) {
    size_t x0, x1;
    qe_pool_window(ox, g->stride_w, g->pad_left, g->kw, g->w, &x0, &x1);
    const size_t pixels = (y1 - y0) * (x1 - x0);
    const size_t count = p->count_include_pad ? g->kh * g->kw : pixels;
    const qe_qs8_gavgpool_params w = {-(int32_t)pixels * p->zi, p->m0[count], p->sh[count],
                                      p->zo, p->qmin, p->qmax};
    J->avgpool(y1 - y0, x1 - x0, c, img + (y0 * g->w + x0) * c, g->w * c, c,
               J->y + ((n * g->oh + oy) * g->ow + ox) * c, &w);
  }
}

int qe_pool_covers_image(const qe_pool_geometry* g) {
  if (g->oh != 1 || g->ow != 1) return 0;
  size_t y0, y1, x0, x1;
  qe_pool_window(0, g->stride_h, g->pad_top, g->kh, g->h, &y0, &y1);
  qe_pool_window(0, g->stride_w, g->pad_left, g->kw, g->w, &x0, &x1);
  return y0 == 0 && y1 == g->h && x0 == 0 && x1 == g->w;
}

void qe_qs8_avgpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y,
                    const qe_qs8_avgpool_params* p, int num_threads) {
  if (g->n == 0 || g->oh == 0 || g->ow == 0 || g->c == 0) return;
  if (qe_pool_covers_image(g)) {
    /* one window over the whole image (a keyword-spotting CNN's last pool) is eq. 16 with
     * count's multiplier: the same integer sum and rounding, in the SIMD kernel (hw <=
     * kh * kw <= 2^16, so hw * 255 < 2^31) */
    const size_t hw = g->h * g->w, count = p->count_include_pad ? g->kh * g->kw : hw;
    const qe_qs8_gavgpool_params gp = {-(int32_t)hw * p->zi, p->m0[count], p->sh[count],
                                       p->zo, p->qmin, p->qmax};
    qe_qs8_gavgpool(g->n, hw, g->c, x, y, &gp, num_threads);
    return;
  }
  pool_job J = {g, x, y, p->qmin, p->qmax, p, NULL, kPool[QE_PICK(kPool, avgpool)].avgpool};
  qe_parallel_for(num_threads, g->n * g->oh, avgpool_task, &J);
}

/* Global average pool: tasks are (image, block of channels). */
#define QE_GAVG_BLOCK 64

typedef struct {
  size_t hw, c, blocks;
  const int8_t* x;
  int8_t* y;
  const qe_qs8_gavgpool_params* p;
  qe_qs8_avgpool_ukernel fn;
} gavg_job;

static void gavgpool_task(void* ctx, size_t t) {
  const gavg_job* J = (const gavg_job*)ctx;
  const size_t n = t / J->blocks, c0 = (t % J->blocks) * QE_GAVG_BLOCK;
  J->fn(1, J->hw, QE_MIN(QE_GAVG_BLOCK, J->c - c0), J->x + n * J->hw * J->c + c0, 0, J->c,
        J->y + n * J->c + c0, J->p);
}

void qe_qs8_gavgpool(size_t n, size_t hw, size_t c, const int8_t* x, int8_t* y,
                     const qe_qs8_gavgpool_params* p, int num_threads) {
  if (n == 0 || c == 0) return;
  gavg_job J = {hw, c, qe_div_up(c, QE_GAVG_BLOCK), x, y, p,
                kPool[QE_PICK(kPool, avgpool)].avgpool};
  if (n * hw * c < 16384) num_threads = 1;
  qe_parallel_for(num_threads, n * J.blocks, gavgpool_task, &J);
}
