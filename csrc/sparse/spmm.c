/* Sparse matmul driver: the kernel table, packing, the activation transpose, tiling and
 * threads. ISA-neutral; the kernels live in qs8_spmm_*.c, one file per variant. */
#include "sparse/spmm.h"

#include <string.h>

/* Below this many activation rows the matrix-vector kernel runs once per row: a tile of
 * QE_SPMM_MP positions would be mostly padding. */
#define MV_MAX_M 4
#define M_BLOCK 128 /* positions per task: a multiple of QE_SPMM_MP */

/* The one list of sparse kernels: dispatch, K.isa(), tests and benchmarks all read it. */
const qe_spmm_kernel* qe_spmm_kernel_for(int isa) {
  switch (isa) {
    case QE_ISA_SCALAR: return &qe_spmm_kernel__scalar;
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return &qe_spmm_kernel__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return &qe_spmm_kernel__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return &qe_spmm_kernel__neon;
    case QE_ISA_NEONDOT: return &qe_spmm_kernel__neon; /* no dot-product gain: 16-bit MACs */
#endif
    default: return NULL;
  }
}

const char* qe_spmm_kernel_name(const qe_spmm_kernel* k, int br) {
  return k->name[br == 1 ? 0 : 1];
}

typedef struct {
  size_t np, pptr, pidx, pw, end; /* byte offsets */
} layout;

static layout layout_of(size_t n, size_t br, size_t npairs) {
  const size_t nrows = qe_div_up(n, br);
  layout L;
  L.np = nrows * br;
  L.pptr = sizeof(qe_spmm_header) + 3 * L.np * sizeof(int32_t);
  L.pidx = L.pptr + (nrows + 1) * sizeof(int32_t);
  L.pw = L.pidx + 2 * npairs * sizeof(int32_t);
  L.end = L.pw + npairs * br * 2 * sizeof(int16_t);
  return L;
}

size_t qe_spmm_packed_size(size_t n, size_t k, int br, size_t nblocks) {
  /* each block row adds at most one dummy block: npairs <= (nblocks + nrows) / 2 */
  const size_t npairs_max = (nblocks + qe_div_up(n, (size_t)br)) / 2;
  return qe_round_up(layout_of(n, (size_t)br, npairs_max).end, 64);
}

static qe_spmm_w view(const void* packed) {
  const qe_spmm_header* h = (const qe_spmm_header*)packed;
  const layout L = layout_of(h->n, h->br, h->npairs);
  const uint8_t* base = (const uint8_t*)packed;
  qe_spmm_w W;
  W.n = h->n, W.k = h->k, W.br = h->br, W.nrows = h->nrows;
  W.bias = (const int32_t*)(base + sizeof(qe_spmm_header));
  W.m0 = W.bias + L.np;
  W.sh = W.m0 + L.np;
  W.pptr = (const int32_t*)(base + L.pptr);
  W.pidx = (const int32_t*)(base + L.pidx);
  W.pw = (const int16_t*)(base + L.pw);
  return W;
}

void qe_spmm_pack(size_t n, size_t k, int br_, const int32_t* ptr, const void* idx,
                  int idx_bytes, const int8_t* values, const int32_t* bias,
                  const int32_t* m0, const int32_t* sh, void* packed) {
  const size_t br = (size_t)br_, nrows = qe_div_up(n, br);
  size_t npairs = 0;
  for (size_t r = 0; r < nrows; r++) npairs += qe_div_up((size_t)(ptr[r + 1] - ptr[r]), 2);
  const layout L = layout_of(n, br, npairs);
  uint8_t* base = (uint8_t*)packed;
  memset(base, 0, L.end);
  qe_spmm_header* h = (qe_spmm_header*)base;
  h->n = n, h->k = k, h->nrows = nrows, h->npairs = npairs, h->br = (uint32_t)br;
  h->magic = QE_SPMM_MAGIC;
  int32_t* pb = (int32_t*)(base + sizeof(qe_spmm_header));
  int32_t* pm = pb + L.np;
  int32_t* ps = pm + L.np;
  for (size_t j = 0; j < L.np; j++) {
    pb[j] = j < n ? bias[j] : 0;
    pm[j] = j < n ? m0[j] : 0;
    ps[j] = j < n ? sh[j] : 1;
  }
  int32_t* pptr = (int32_t*)(base + L.pptr);
  int32_t* pidx = (int32_t*)(base + L.pidx);
  int16_t* pw = (int16_t*)(base + L.pw);
  size_t p = 0;
  for (size_t r = 0; r < nrows; r++) {
    pptr[r] = (int32_t)p;
    const size_t b0 = (size_t)ptr[r], b1 = (size_t)ptr[r + 1];
    for (size_t b = b0; b < b1; b += 2, p++) {
      for (size_t s = 0; s < 2; s++) {
        const size_t bb = b + s < b1 ? b + s : b; /* the dummy repeats the column, weight 0 */
        pidx[2 * p + s] = idx_bytes == 2 ? ((const uint16_t*)idx)[bb]
                                         : ((const int32_t*)idx)[bb];
        for (size_t j = 0; j < br; j++)
          pw[(p * br + j) * 2 + s] = b + s < b1 ? values[bb * br + j] : 0;
      }
    }
  }
  pptr[nrows] = (int32_t)p;
}

size_t qe_spmm_scratch_size(const void* packed, size_t m) {
  const qe_spmm_header* h = (const qe_spmm_header*)packed;
  if (m < MV_MAX_M) return m * h->k * sizeof(uint32_t) + 64;
  /* the whole transposed A; with one task per position block only threads x K x M_BLOCK
   * of it is used (mm_fused_task) */
  return h->k * qe_round_up(m, M_BLOCK) * sizeof(int16_t) + 64;
}

/* ---- transpose A [M, K] int8 -> at [K][Mp] int16, one task per QE_SPMM_MP positions ---- */
void qe_spmm_transpose__scalar(size_t m0, size_t m, size_t k, const int8_t* a,
                               size_t a_stride, int16_t* at, size_t at_stride) {
  const size_t mc = QE_MIN((size_t)QE_SPMM_MP, m - m0);
  for (size_t kk = 0; kk < k; kk++) {
    int16_t* dst = at + kk * at_stride + m0;
    const int8_t* src = a + m0 * a_stride + kk;
    size_t i = 0;
    for (; i < mc; i++) dst[i] = src[i * a_stride];
    for (; i < QE_SPMM_MP; i++) dst[i] = 0;
  }
}

typedef struct {
  qe_spmm_transpose_fn fn;
  size_t m, k, mp;
  const int8_t* a;
  size_t a_stride;
  int16_t* at;
} transpose_job;

static void transpose_task(void* ctx, size_t t) {
  const transpose_job* J = (const transpose_job*)ctx;
  J->fn(t * QE_SPMM_MP, J->m, J->k, J->a, J->a_stride, J->at, J->mp);
}

/* ---- the two kinds of task ---------------------------------------------------------------- */
typedef struct {
  const qe_spmm_kernel* kern;
  qe_spmm_w W;
  qe_spmm_params p;
  size_t m;
  const int8_t* a;
  size_t a_stride;
  const int16_t* at;
  const uint32_t* a32;
  size_t mp;
  int8_t* c;
  size_t c_stride;
  size_t rows_per_task, n_rchunks, nworkers;
  const transpose_job* tr;
} spmm_job;

static void mm_task(void* ctx, size_t t) {
  const spmm_job* J = (const spmm_job*)ctx;
  const size_t mblock = t / J->n_rchunks, rchunk = t % J->n_rchunks;
  const size_t r0 = rchunk * J->rows_per_task, r1 = QE_MIN(J->W.nrows, r0 + J->rows_per_task);
  const size_t mb = mblock * M_BLOCK, me = QE_MIN(J->m, mb + M_BLOCK);
  J->kern->mm(&J->W, r0, r1, J->at, J->mp, mb, me, J->c, J->c_stride, &J->p);
}

/* Worker w of nworkers: position blocks w, w + nworkers, ...; each is transposed into the
 * worker's own slab of K x M_BLOCK (stays in L1/L2) and used at once. */
static void mm_fused_task(void* ctx, size_t w) {
  const spmm_job* J = (const spmm_job*)ctx;
  const size_t mblocks = qe_div_up(J->m, M_BLOCK);
  int16_t* slab = (int16_t*)J->at + w * J->W.k * M_BLOCK;
  for (size_t b = w; b < mblocks; b += J->nworkers) {
    const size_t mb = b * M_BLOCK, mc = QE_MIN((size_t)M_BLOCK, J->m - mb);
    const int8_t* a = J->a + mb * J->a_stride;
    for (size_t i = 0; i < mc; i += QE_SPMM_MP)
      J->tr->fn(i, mc, J->W.k, a, J->a_stride, slab, M_BLOCK);
    J->kern->mm(&J->W, 0, J->W.nrows, slab, M_BLOCK, 0, mc, J->c + mb * J->c_stride,
                J->c_stride, &J->p);
  }
}

static void mv_task(void* ctx, size_t t) {
  const spmm_job* J = (const spmm_job*)ctx;
  const size_t row = t / J->n_rchunks, rchunk = t % J->n_rchunks;
  const size_t r0 = rchunk * J->rows_per_task, r1 = QE_MIN(J->W.nrows, r0 + J->rows_per_task);
  J->kern->mv(&J->W, r0, r1, J->a + row * J->a_stride, J->a32 + row * J->W.k,
              J->c + row * J->c_stride, &J->p);
}

/* Every output is computed by one task with the same code whatever the split, and the
 * integer sums are exact (wrapping, eq. 3), so results do not depend on num_threads. */
void qe_spmm_run(const qe_spmm_kernel* kern, const void* packed, size_t m, const int8_t* a,
                 size_t a_stride, int8_t* c, size_t c_stride, int32_t zo, int32_t qmin,
                 int32_t qmax, void* scratch, int num_threads) {
  spmm_job J;
  J.W = view(packed);
  if (m == 0 || J.W.n == 0) return;
  J.kern = kern;
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax;
  J.m = m, J.a = a, J.a_stride = a_stride, J.c = c, J.c_stride = c_stride;
  const size_t threads = (size_t)QE_MAX(num_threads, 1);
  const size_t nrows = J.W.nrows;
  if (m < MV_MAX_M) {
    /* ~64 output channels per task, at least a few tasks per thread */
    size_t chunks = QE_MAX(qe_div_up(J.W.n, 64), threads > 1 ? 4 * threads : 1);
    J.rows_per_task = qe_div_up(nrows, QE_MIN(chunks, nrows));
    J.n_rchunks = qe_div_up(nrows, J.rows_per_task);
    uint32_t* a32 = (uint32_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    for (size_t i = 0; i < m; i++)
      for (size_t kk = 0; kk < J.W.k; kk++)
        a32[i * J.W.k + kk] = (uint16_t)(int16_t)a[i * a_stride + kk];
    J.at = NULL, J.a32 = a32, J.mp = 0;
    qe_parallel_for(num_threads, m * J.n_rchunks, mv_task, &J);
    return;
  }
  int16_t* at = (int16_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  J.mp = qe_round_up(m, QE_SPMM_MP);
  J.at = at, J.a32 = NULL;
  transpose_job T = {kern->transpose, m, J.W.k, J.mp, a, a_stride, at};
  J.tr = &T;
  const size_t mblocks = qe_div_up(m, M_BLOCK);
  size_t chunks = 1;
  if (threads > 1 && mblocks < 4 * threads) chunks = QE_MIN(qe_div_up(4 * threads, mblocks), nrows);
  J.rows_per_task = qe_div_up(nrows, chunks);
  J.n_rchunks = qe_div_up(nrows, J.rows_per_task);
  if (J.n_rchunks == 1) {
    /* each worker transposes its own positions and uses them while they are in cache */
    J.nworkers = QE_MIN(threads, mblocks);
    qe_parallel_for(num_threads, J.nworkers, mm_fused_task, &J);
  } else {
    qe_parallel_for(num_threads, J.mp / QE_SPMM_MP, transpose_task, &T);
    qe_parallel_for(num_threads, mblocks * J.n_rchunks, mm_task, &J);
  }
}
