/* K-blocked (1x4) sparse matmul driver: kernel table, packing, threads. ISA-neutral; the
 * kernels live in qs8_spmm_kb4_*.c. Layouts in kb4.h, design in docs/SPARSE.md. */
#include <stdatomic.h>
#include <string.h>

#include "sparse/kb4.h"

#define M_TASK 64 /* positions per task (= QE_KB4_MP) */

const qe_spmm_kb4_kernel* qe_spmm_kb4_kernel_for(int isa) {
  switch (isa) {
    case QE_ISA_SCALAR: return &qe_spmm_kb4_kernel__scalar;
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return &qe_spmm_kb4_kernel__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return &qe_spmm_kb4_kernel__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return &qe_spmm_kb4_kernel__neon;
#endif
#ifdef QE_HAVE_NEONDOT
    case QE_ISA_NEONDOT: return &qe_spmm_kb4_kernel__neondot;
#elif defined(QE_HAVE_NEON)
    case QE_ISA_NEONDOT: return &qe_spmm_kb4_kernel__neon;
#endif
    default: return NULL;
  }
}

const char* qe_spmm_kb4_kernel_name(const qe_spmm_kb4_kernel* k) { return k->name; }

typedef struct {
  size_t ptr, kb, w, end; /* byte offsets */
} layout;

static layout layout_of(size_t n, size_t nblocks) {
  const size_t np = qe_round_up(n, QE_KB4_NB);
  layout L;
  L.ptr = sizeof(qe_spmm_kb4_header) + 5 * np * sizeof(int32_t);
  L.kb = L.ptr + (np + 1) * sizeof(int32_t);
  L.w = L.kb + nblocks * sizeof(int32_t);
  L.end = L.w + nblocks * sizeof(int32_t);
  return L;
}

size_t qe_spmm_kb4_packed_size(size_t n, size_t k, size_t nblocks) {
  return qe_round_up(layout_of(n, nblocks).end, 64);
}

/* ---- matrix-vector section (kb4.h) -------------------------------------------------- */

static size_t kb_at(const void* kidx, int idx_bytes, size_t b) {
  return idx_bytes == 2 ? ((const uint16_t*)kidx)[b] : (size_t)((const int32_t*)kidx)[b];
}

/* Steps of group g (channels 16 g .. 16 g + 15) in each chunk, into nsteps (NULL: only
 * counted); returns their sum. Blocks are sorted within a channel, so one cursor per lane
 * walks them chunk by chunk. */
static size_t mv_group_steps(size_t n, size_t g, size_t chunks, const int32_t* ptr,
                             const void* kidx, int idx_bytes, uint16_t* nsteps) {
  size_t cur[QE_KB4_NB], end[QE_KB4_NB], total = 0;
  for (size_t j = 0; j < QE_KB4_NB; j++) {
    const size_t ch = g * QE_KB4_NB + j;
    cur[j] = ch < n ? (size_t)ptr[ch] : 0;
    end[j] = ch < n ? (size_t)ptr[ch + 1] : 0;
  }
  for (size_t c = 0; c < chunks; c++) {
    size_t most = 0;
    for (size_t j = 0; j < QE_KB4_NB; j++) {
      size_t cnt = 0;
      while (cur[j] < end[j] && kb_at(kidx, idx_bytes, cur[j]) / QE_KB4_MV_CHUNK == c)
        cur[j]++, cnt++;
      most = QE_MAX(most, cnt);
    }
    if (nsteps) nsteps[c] = (uint16_t)most;
    total += most;
  }
  return total;
}

typedef struct {
  size_t first, nsteps, w, idx, end; /* byte offsets from the section's start */
} mv_layout;

static mv_layout mv_layout_of(size_t groups, size_t chunks, size_t steps) {
  mv_layout L;
  L.first = 0;
  L.nsteps = (groups + 1) * sizeof(uint32_t);
  L.w = qe_round_up(L.nsteps + groups * chunks * sizeof(uint16_t), 64);
  L.idx = L.w + steps * QE_KB4_NB * sizeof(int32_t);
  L.end = qe_round_up(L.idx + steps * QE_KB4_NB, 64);
  return L;
}

size_t qe_spmm_kb4_mv_size(size_t n, size_t k, const int32_t* ptr, const void* kidx,
                           int idx_bytes) {
  const size_t groups = qe_div_up(n, QE_KB4_NB);
  const size_t chunks = qe_div_up(qe_div_up(k, 4), QE_KB4_MV_CHUNK);
  size_t steps = 0;
  for (size_t g = 0; g < groups; g++)
    steps += mv_group_steps(n, g, chunks, ptr, kidx, idx_bytes, NULL);
  return mv_layout_of(groups, chunks, steps).end;
}

static qe_spmm_kb4_w view(const void* packed);

void qe_spmm_kb4_pack_mv(void* packed) {
  qe_spmm_kb4_header* h = (qe_spmm_kb4_header*)packed;
  const qe_spmm_kb4_w W = view(packed);
  const size_t groups = W.np / QE_KB4_NB, chunks = qe_div_up(W.kblocks, QE_KB4_MV_CHUNK);
  uint8_t* sec = (uint8_t*)packed + qe_spmm_kb4_packed_size(W.n, W.k, h->nblocks);
  /* the step counts first (their offsets do not depend on the total), then the steps */
  const mv_layout head = mv_layout_of(groups, chunks, 0);
  memset(sec, 0, head.w);
  uint32_t* first = (uint32_t*)(sec + head.first);
  uint16_t* nsteps = (uint16_t*)(sec + head.nsteps);
  size_t steps = 0;
  for (size_t g = 0; g < groups; g++) {
    first[g] = (uint32_t)steps;
    steps += mv_group_steps(W.n, g, chunks, W.ptr, W.kb, 4, nsteps + g * chunks);
  }
  first[groups] = (uint32_t)steps;
  const mv_layout L = mv_layout_of(groups, chunks, steps);
  memset(sec + head.w, 0, L.end - head.w);
  int32_t* sw = (int32_t*)(sec + L.w);
  uint8_t* sidx = sec + L.idx;
  for (size_t g = 0; g < groups; g++) {
    const size_t s0 = first[g];
    const uint16_t* ns = nsteps + g * chunks;
    for (size_t j = 0; j < QE_KB4_NB; j++) {
      const size_t ch = g * QE_KB4_NB + j;
      size_t s = s0; /* first step of the current chunk */
      size_t c = 0, used = 0;
      for (int32_t b = ch < W.n ? W.ptr[ch] : 0; ch < W.n && b < W.ptr[ch + 1]; b++) {
        const size_t kb = (size_t)W.kb[b];
        while (kb / QE_KB4_MV_CHUNK != c) s += ns[c++], used = 0;
        sw[(s + used) * QE_KB4_NB + j] = W.w[b];
        sidx[(s + used) * QE_KB4_NB + j] = (uint8_t)(kb % QE_KB4_MV_CHUNK);
        used++;
      }
    }
  }
  h->reserved[0] = 1;
}

static qe_spmm_kb4_w view(const void* packed) {
  const qe_spmm_kb4_header* h = (const qe_spmm_kb4_header*)packed;
  const layout L = layout_of(h->n, h->nblocks);
  const uint8_t* base = (const uint8_t*)packed;
  qe_spmm_kb4_w W;
  W.n = h->n, W.k = h->k, W.kblocks = h->kblocks, W.np = qe_round_up(h->n, QE_KB4_NB);
  W.bias = (const int32_t*)(base + sizeof(qe_spmm_kb4_header));
  W.bias_u8 = W.bias + W.np;
  W.m0 = W.bias_u8 + W.np;
  W.sh = W.m0 + W.np;
  W.c0 = W.sh + W.np;
  W.ptr = (const int32_t*)(base + L.ptr);
  W.kb = (const int32_t*)(base + L.kb);
  W.w = (const int32_t*)(base + L.w);
  W.mv_chunks = 0, W.mv_first = NULL, W.mv_nsteps = NULL, W.mv_w = NULL, W.mv_idx = NULL;
  if (h->reserved[0] == 1) {
    const size_t groups = W.np / QE_KB4_NB, chunks = qe_div_up(W.kblocks, QE_KB4_MV_CHUNK);
    const uint8_t* sec = base + qe_spmm_kb4_packed_size(W.n, W.k, h->nblocks);
    W.mv_first = (const uint32_t*)sec;
    const mv_layout M = mv_layout_of(groups, chunks, W.mv_first[groups]);
    W.mv_chunks = chunks;
    W.mv_nsteps = (const uint16_t*)(sec + M.nsteps);
    W.mv_w = (const int32_t*)(sec + M.w);
    W.mv_idx = sec + M.idx;
  }
  return W;
}

void qe_spmm_kb4_pack(size_t n, size_t k, const int32_t* ptr, const void* kidx, int idx_bytes,
                      const int8_t* values, const int32_t* bias, const int32_t* m0,
                      const int32_t* sh, void* packed) {
  const size_t nblocks = n ? (size_t)ptr[n] : 0, np = qe_round_up(n, QE_KB4_NB);
  const layout L = layout_of(n, nblocks);
  uint8_t* base = (uint8_t*)packed;
  memset(base, 0, L.end);
  qe_spmm_kb4_header* h = (qe_spmm_kb4_header*)base;
  h->n = n, h->k = k, h->kblocks = qe_div_up(k, 4), h->nblocks = nblocks;
  h->magic = QE_KB4_MAGIC;
  int32_t* pb = (int32_t*)(base + sizeof(qe_spmm_kb4_header));
  int32_t *pu = pb + np, *pm = pu + np, *ps = pm + np, *pc = ps + np;
  int32_t* pp = (int32_t*)(base + L.ptr);
  int32_t* pk = (int32_t*)(base + L.kb);
  int32_t* pw = (int32_t*)(base + L.w);
  for (size_t j = 0; j < np; j++) {
    uint32_t sum = 0; /* sum of the channel's weights, wrapping like the accumulator */
    if (j < n)
      for (int32_t b = ptr[j]; b < ptr[j + 1]; b++)
        for (size_t i = 0; i < 4; i++) sum += (uint32_t)(int32_t)values[4 * (size_t)b + i];
    pb[j] = j < n ? bias[j] : 0;
    pu[j] = (int32_t)((uint32_t)pb[j] - 128u * sum);
    pm[j] = j < n ? m0[j] : 0;
    ps[j] = j < n ? sh[j] : 1;
    /* eq. 5 without zo; |result| < 2^31 for m0 < 2^31, sh >= 1, so clamp before int32 */
    const int64_t x = ((int64_t)pb[j] * pm[j] + ((int64_t)1 << (ps[j] - 1))) >> ps[j];
    pc[j] = (int32_t)(x < -32768 ? -32768 : x > 32768 ? 32768 : x);
    pp[j] = j < n ? ptr[j] : (int32_t)nblocks;
  }
  pp[np] = (int32_t)nblocks;
  for (size_t b = 0; b < nblocks; b++) {
    pk[b] = idx_bytes == 2 ? ((const uint16_t*)kidx)[b] : ((const int32_t*)kidx)[b];
    memcpy(pw + b, values + 4 * b, 4);
  }
}

size_t qe_spmm_kb4_scratch_size(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m) {
  const qe_spmm_kb4_header* h = (const qe_spmm_kb4_header*)packed;
  /* rows, and for the channel-major mode their outputs before the scatter */
  if (kern->mv && m < QE_KB4_MV_MAX_M) return m * (h->kblocks * 4 + h->n) + 64;
  return h->kblocks * qe_round_up(m, QE_KB4_MP) * kern->elem + 64;
}

/* Plain-C elem = 4 layout: at[kb][m] = a[m, 4kb .. 4kb+3], zero past M and K. */
void qe_kb4_pack_s8__scalar(size_t m0, size_t m, size_t k, const int8_t* a, size_t a_stride,
                            uint8_t* at, size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4), kfull = k / 4;
  for (size_t i = m0; i < m0 + QE_KB4_MP; i++) {
    const int8_t* src = a + i * a_stride;
    for (size_t kb = 0; kb < kbs; kb++) {
      uint8_t* d = at + kb * at_stride + 4 * i;
      if (i < m && kb < kfull) {
        memcpy(d, src + 4 * kb, 4);
      } else {
        for (size_t j = 0; j < 4; j++)
          d[j] = i < m && 4 * kb + j < k ? (uint8_t)src[4 * kb + j] : 0;
      }
    }
  }
}

/* The same bytes from A^T [K, M]: a[(4kb + j) * a_stride + i]. */
void qe_kb4_pack_s8_cm__scalar(size_t m0, size_t m, size_t k, const int8_t* a,
                               size_t a_stride, uint8_t* at, size_t at_stride) {
  const size_t kbs = qe_div_up(k, 4);
  for (size_t kb = 0; kb < kbs; kb++)
    for (size_t i = m0; i < m0 + QE_KB4_MP; i++)
      for (size_t j = 0; j < 4; j++)
        at[kb * at_stride + 4 * i + j] =
            i < m && 4 * kb + j < k ? (uint8_t)a[(4 * kb + j) * a_stride + i] : 0;
}

/* ---- blocked mode --------------------------------------------------------------------- */

/* Without the kernel's mm_c4: per 64-position tile, the input unblocked to A^T, the
 * channel-major pair, and the result blocked (scratch per worker, c4_tile_bytes). */
static size_t c4_tile_bytes(const qe_spmm_kb4_kernel* kern, const qe_spmm_kb4_w* W) {
  return QE_KB4_MP * (W->kblocks * (4 + kern->elem) + W->np);
}

/* The blocked mode's split into tasks of (panel of positions, chunk of channels), run by
 * nworkers workers that take every nworkers-th task, each with scratch of its own.
 * - A kernel that reads its input in place takes all M positions as one panel: panels of
 *   ~32 KiB of input (the channel-major slabs) cost each group of 4 channels its set-up
 *   and a tail tile per panel (b11_project_14 at 95%: 10.9 -> 5.5 us as one panel;
 *   b3_project_56 14.7 -> 11.3), and streaming the rows from L2 costs little.
 * - Unless it flips panels into its slab (kernel c4_slab, kb4.h: when the blocks read each
 *   k-block row 8 times or more): panels that fit the slab.
 * - More threads: chunks of channels (groups of 16), then more panels, up to ~4 tasks per
 *   thread. Without a blocked kernel: 64-position tiles through the channel-major pair. */
typedef struct {
  size_t panel, n_per_task, n_nchunks, tasks, nworkers, worker_bytes;
  int flip; /* mm_c4 gets the worker's slab */
} c4_split;

static c4_split c4_split_for(const qe_spmm_kb4_kernel* kern, const qe_spmm_kb4_w* W, size_t m,
                             int num_threads) {
  const size_t threads = (size_t)QE_MAX(num_threads, 1), groups = W->np / QE_KB4_NB;
  const size_t mp = qe_round_up(m, QE_KB4_MP), row = 4 * QE_MAX(W->kblocks, 1);
  c4_split S;
  S.flip = 0;
  if (kern->mm_c4) {
    S.flip = kern->c4_slab && (size_t)W->ptr[W->np] >= 8 * W->kblocks &&
             row * QE_KB4_MP <= kern->c4_slab;
    S.panel = S.flip ? kern->c4_slab / row / QE_KB4_MP * QE_KB4_MP : mp;
    S.worker_bytes = S.flip ? kern->c4_slab : 0;
  } else {
    S.panel = QE_KB4_MP;
    S.worker_bytes = c4_tile_bytes(kern, W);
  }
  size_t panels = qe_div_up(m, S.panel), chunks = 1;
  if (kern->mm_c4 && threads > 1 && panels < 2 * threads) {
    chunks = QE_MIN(qe_div_up(4 * threads, panels), groups);
    if (panels * chunks < 2 * threads) { /* few channels: split the positions further */
      const size_t want = qe_div_up(4 * threads, chunks);
      S.panel = QE_MIN(S.panel, QE_MAX(qe_round_up(qe_div_up(m, want), QE_KB4_MP), QE_KB4_MP));
      panels = qe_div_up(m, S.panel);
    }
  }
  S.n_per_task = qe_div_up(groups, chunks) * QE_KB4_NB;
  S.n_nchunks = qe_div_up(W->np, S.n_per_task);
  S.tasks = panels * S.n_nchunks;
  S.nworkers = threads > 1 ? QE_MIN(S.tasks, 4 * threads) : 1;
  return S;
}

size_t qe_spmm_kb4_scratch_size_c4(const qe_spmm_kb4_kernel* kern, const void* packed,
                                   size_t m, int num_threads) {
  const qe_spmm_kb4_w W = view(packed);
  const c4_split S = c4_split_for(kern, &W, m, num_threads);
  const size_t blocked = S.nworkers * S.worker_bytes + 64;
  if (m != 1) return blocked;
  const size_t row = qe_spmm_kb4_scratch_size(kern, packed, 1); /* unpadded: one row */
  return QE_MAX(row, blocked);
}

static void c4_tile_via_cm(const qe_spmm_kb4_kernel* kern, const qe_spmm_kb4_w* W,
                           const int8_t* a, size_t a_stride, size_t mb, size_t mt, int8_t* c,
                           size_t c_stride, const qe_spmm_params* p, uint8_t* scratch) {
  const size_t kp = 4 * W->kblocks, T = QE_KB4_MP;
  int8_t* at = (int8_t*)scratch;       /* A^T [kp, T] */
  uint8_t* slab = scratch + kp * T;    /* the kernel's packed tile */
  int8_t* ct = (int8_t*)slab + W->kblocks * T * kern->elem; /* C^T [np, T] */
  for (size_t k = 0; k < kp; k++)
    for (size_t i = 0; i < mt; i++) at[k * T + i] = a[(k / 4) * a_stride + 4 * (mb + i) + k % 4];
  if (W->kblocks) kern->pack_cm(0, mt, W->k, at, T, slab, T * kern->elem);
  kern->mm_cm(W, 0, W->np, slab, T * kern->elem, 0, mt, ct, T, p);
  for (size_t n = 0; n < qe_round_up(W->n, 4); n++)
    for (size_t i = 0; i < mt; i++)
      c[(n / 4) * c_stride + 4 * (mb + i) + n % 4] = n < W->n ? ct[n * T + i] : 0;
}

typedef struct {
  const qe_spmm_kb4_kernel* kern;
  qe_spmm_kb4_w W;
  qe_spmm_params p;
  c4_split S;
  size_t m, a_stride, c_stride;
  const int8_t* a;
  int8_t* c;
  uint8_t* scratch;
} c4_job;

/* Worker w: tasks w, w + nworkers, ... (c4_split). */
static void c4_worker(void* ctx, size_t w) {
  const c4_job* J = (const c4_job*)ctx;
  const c4_split* S = &J->S;
  uint8_t* scratch = J->scratch + w * S->worker_bytes;
  for (size_t t = w; t < S->tasks; t += S->nworkers) {
    const size_t mb = t / S->n_nchunks * S->panel, me = QE_MIN(J->m, mb + S->panel);
    if (!J->kern->mm_c4) {
      c4_tile_via_cm(J->kern, &J->W, J->a, J->a_stride, mb, me - mb, J->c, J->c_stride, &J->p,
                     scratch);
      continue;
    }
    const size_t n0 = t % S->n_nchunks * S->n_per_task;
    J->kern->mm_c4(&J->W, n0, QE_MIN(J->W.np, n0 + S->n_per_task), (const uint8_t*)J->a,
                   J->a_stride, mb, me, J->c, J->c_stride, &J->p, S->flip ? scratch : NULL);
  }
}

static void run(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m, const int8_t* a,
                size_t a_stride, int8_t* c, size_t c_stride, int32_t zo, int32_t qmin,
                int32_t qmax, void* scratch, int num_threads, int channel_major);

void qe_spmm_kb4_run_c4(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m,
                        const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                        int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                        int num_threads) {
  c4_job J;
  J.W = view(packed);
  if (m == 0 || J.W.n == 0) return;
  if (m == 1 && a_stride == 4 && c_stride == 4) {
    /* one position, unpadded: the same bytes as a row of A and of C (K, N padded to 4) */
    run(kern, packed, 1, a, a_stride, c, c_stride, zo, qmin, qmax, scratch, num_threads, 0);
    memset(c + J.W.n, 0, qe_round_up(J.W.n, 4) - J.W.n);
    return;
  }
  J.kern = kern, J.m = m, J.a = a, J.a_stride = a_stride, J.c = c, J.c_stride = c_stride;
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax;
  J.scratch = (uint8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  J.S = c4_split_for(kern, &J.W, m, num_threads);
  qe_parallel_for(num_threads, J.S.nworkers, c4_worker, &J);
}

typedef struct {
  const qe_spmm_kb4_kernel* kern;
  qe_kb4_pack_fn pack; /* kern->pack and mm, or their channel-major pair */
  qe_kb4_mm_fn mm;
  qe_spmm_kb4_w W;
  qe_spmm_params p;
  size_t m, a_stride, at_stride, c_stride, n_per_task, n_nchunks, nworkers;
  size_t panel; /* channel-major: positions per panel */
  size_t copy_bytes; /* channel-major by chunks of channels: bytes per worker's A^T copy */
  atomic_size_t* next_chunk; /* and the next chunk to take */
  const int8_t* a;
  uint8_t* at;
  int8_t* c;
} job;

static void pack_task(void* ctx, size_t t) {
  const job* J = (const job*)ctx;
  J->pack(t * QE_KB4_MP, J->m, J->W.k, J->a, J->a_stride, J->at, J->at_stride);
}

static void mv_task(void* ctx, size_t t) {
  const job* J = (const job*)ctx;
  const size_t row = t / J->n_nchunks, nt = t % J->n_nchunks;
  const size_t n0 = nt * J->n_per_task, n1 = QE_MIN(J->W.n, n0 + J->n_per_task);
  J->kern->mv(&J->W, n0, n1, (const int8_t*)J->at + row * J->W.kblocks * 4,
              J->c + row * J->c_stride, &J->p);
}

static void mm_task(void* ctx, size_t t) {
  const job* J = (const job*)ctx;
  const size_t mt = t / J->n_nchunks, nt = t % J->n_nchunks;
  const size_t n0 = nt * J->n_per_task, n1 = QE_MIN(J->W.np, n0 + J->n_per_task);
  const size_t mb = mt * M_TASK, me = QE_MIN(J->m, mb + M_TASK);
  J->mm(&J->W, n0, n1, J->at, J->at_stride, mb, me, J->c, J->c_stride, &J->p);
}

/* Channel-major: channels [n0, n1) for the positions [mb, mb + mt) packed in at. */
static void cm_block(const job* J, size_t n0, size_t n1, const uint8_t* at, size_t at_stride,
                     size_t mb, size_t mt) {
  J->mm(&J->W, n0, n1, at, at_stride, 0, mt, J->c + mb, J->c_stride, &J->p);
}

/* Channel-major task w of nworkers: panels of J->panel positions w, w + nworkers, ..., each
 * packed into the task's slab and run channel by channel: a channel's constants are made
 * once per panel and its row of C^T is written in order (per 64-position tile with every
 * channel, as NHWC runs, b3_expand_56 at 95% took 27 us against 18). */
static void cm_panel_task(void* ctx, size_t w) {
  const job* J = (const job*)ctx;
  const size_t stride = J->panel * J->kern->elem, panels = qe_div_up(J->m, J->panel);
  uint8_t* slab = J->at + w * J->W.kblocks * stride;
  for (size_t t = w; t < panels; t += J->nworkers) {
    const size_t mb = t * J->panel, mt = QE_MIN(J->panel, J->m - mb);
    for (size_t m0 = 0; m0 < mt; m0 += QE_KB4_MP)
      J->pack(m0, mt, J->W.k, J->a + mb, J->a_stride, slab, stride);
    cm_block(J, 0, J->W.np, slab, stride, mb, mt);
  }
}

/* Channel-major with few panels per thread: worker w packs all of A^T into its own copy,
 * then takes chunks of channels (over all positions) while any are left. With one copy
 * packed by all workers, each read half of it from the other core's cache: on this VM's
 * two cores b3_expand_56 at 95% took 13.4 us on 2 threads against 12.4 on one; with a
 * copy each, 9.4 (C timing). A worker that comes when no chunk is left packs nothing. */
static void cm_copy_task(void* ctx, size_t w) {
  const job* J = (const job*)ctx;
  const size_t chunks = qe_div_up(J->W.np, J->n_per_task);
  if (atomic_load_explicit(J->next_chunk, memory_order_relaxed) >= chunks) return;
  uint8_t* at = J->at + w * J->copy_bytes;
  if (J->W.kblocks)
    for (size_t m0 = 0; m0 < J->m; m0 += QE_KB4_MP)
      J->pack(m0, J->m, J->W.k, J->a, J->a_stride, at, J->at_stride);
  for (;;) {
    const size_t t = atomic_fetch_add_explicit(J->next_chunk, 1, memory_order_relaxed);
    if (t >= chunks) return;
    const size_t n0 = t * J->n_per_task, n1 = QE_MIN(J->W.np, n0 + J->n_per_task);
    cm_block(J, n0, n1, at, J->at_stride, 0, J->m);
  }
}

/* The channel-major split (run): positions per panel; *copies: 0 when panels are the tasks,
 * else the workers that each pack a copy of A^T (cm_copy_task). */
static size_t cm_panel_for(const qe_spmm_kb4_kernel* kern, const qe_spmm_kb4_w* W, size_t m,
                           size_t threads, size_t* copies) {
  const size_t mp = qe_round_up(m, QE_KB4_MP), groups = W->np / QE_KB4_NB;
  /* panels of about kern->cm_panel bytes of packed activations; with few channels to
   * split among the threads, at least two panels per thread if M allows (b7_project_14,
   * N = 64, on 2 threads: 9 -> 4 us; b12_expand_14, N = 576, is faster split by
   * channels) */
  size_t panel = (kern->cm_panel / QE_MAX(W->kblocks * kern->elem, 1)) / QE_KB4_MP * QE_KB4_MP;
  if (threads > 1 && groups < 4 * threads)
    panel = QE_MIN(panel, mp / (2 * threads) / QE_KB4_MP * QE_KB4_MP);
  panel = QE_MIN(QE_MAX(panel, (size_t)QE_KB4_MP), mp); /* mp / panel >= 1 worker */
  const int by_panels = threads == 1 || qe_div_up(m, panel) >= 2 * threads;
  *copies = by_panels ? 0 : QE_MIN(threads, QE_MAX(groups, (size_t)1));
  return panel;
}

/* Bytes of one packed copy of A^T in the channel-major mode (64-byte aligned). */
static size_t cm_copy_bytes(const qe_spmm_kb4_kernel* kern, const qe_spmm_kb4_w* W, size_t m) {
  return qe_round_up(W->kblocks * qe_round_up(m, QE_KB4_MP) * kern->elem, 64);
}

size_t qe_spmm_kb4_scratch_size_cm(const qe_spmm_kb4_kernel* kern, const void* packed,
                                   size_t m, int num_threads) {
  const size_t single = qe_spmm_kb4_scratch_size(kern, packed, m);
  if (kern->mv && m < QE_KB4_MV_MAX_M) return single;
  const qe_spmm_kb4_w W = view(packed);
  size_t copies;
  cm_panel_for(kern, &W, m, (size_t)QE_MAX(num_threads, 1), &copies);
  return QE_MAX(single, QE_MAX(copies, (size_t)1) * cm_copy_bytes(kern, &W, m) + 64);
}

/* Task w of nworkers: position tiles w, w + nworkers, ...; each is packed into the
 * task's own slab of ceil(K/4) x 64 positions (L1/L2 resident) and used at once for all
 * channels. */
static void fused_task(void* ctx, size_t w) {
  const job* J = (const job*)ctx;
  const size_t mtasks = qe_div_up(J->m, M_TASK), stride = M_TASK * J->kern->elem;
  uint8_t* slab = J->at + w * J->W.kblocks * stride;
  for (size_t t = w; t < mtasks; t += J->nworkers) {
    const size_t mb = t * M_TASK, mt = QE_MIN((size_t)M_TASK, J->m - mb);
    if (J->W.kblocks) J->pack(0, mt, J->W.k, J->a + mb * J->a_stride, J->a_stride, slab, stride);
    J->mm(&J->W, 0, J->W.np, slab, stride, 0, mt, J->c + mb * J->c_stride, J->c_stride, &J->p);
  }
}

/* Every output is computed by one task with the same code whatever the split, and the
 * integer sums are exact (wrapping, eq. 3), so results do not depend on num_threads. */
static void run(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m, const int8_t* a,
                size_t a_stride, int8_t* c, size_t c_stride, int32_t zo, int32_t qmin,
                int32_t qmax, void* scratch, int num_threads, int channel_major) {
  job J;
  J.W = view(packed);
  if (m == 0 || J.W.n == 0) return;
  if (m == 1 && a_stride == 1 && c_stride == 1) channel_major = 0; /* the same bytes */
  J.kern = kern;
  J.pack = channel_major ? kern->pack_cm : kern->pack;
  J.mm = channel_major ? kern->mm_cm : kern->mm;
  J.p.zo = zo, J.p.qmin = qmin, J.p.qmax = qmax;
  J.m = m, J.a = a, J.a_stride = a_stride, J.c = c, J.c_stride = c_stride;
  const size_t threads = (size_t)QE_MAX(num_threads, 1);
  J.at = (uint8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  if (kern->mv && m < QE_KB4_MV_MAX_M) {
    /* matrix-vector: each row copied once, zero padded to whole k-blocks; channel-major
     * rows are gathered from the columns of A^T and the outputs scattered afterwards */
    const size_t kp = J.W.kblocks * 4;
    for (size_t i = 0; i < m; i++) {
      if (channel_major)
        for (size_t kk = 0; kk < J.W.k; kk++) J.at[i * kp + kk] = (uint8_t)a[kk * a_stride + i];
      else
        memcpy(J.at + i * kp, a + i * a_stride, J.W.k);
      memset(J.at + i * kp + J.W.k, 0, kp - J.W.k);
    }
    if (channel_major) J.c = (int8_t*)J.at + m * kp, J.c_stride = J.W.n;
    const size_t chunks = QE_MIN(QE_MAX(qe_div_up(J.W.n, 64), threads > 1 ? 4 * threads : 1),
                                 J.W.np / QE_KB4_NB);
    J.n_per_task = qe_div_up(J.W.np / QE_KB4_NB, chunks) * QE_KB4_NB;
    J.n_nchunks = qe_div_up(J.W.n, J.n_per_task);
    qe_parallel_for(num_threads, m * J.n_nchunks, mv_task, &J);
    if (channel_major)
      for (size_t i = 0; i < m; i++)
        for (size_t n = 0; n < J.W.n; n++) c[n * c_stride + i] = J.c[i * J.W.n + n];
    return;
  }
  const size_t mp = qe_round_up(m, QE_KB4_MP);
  J.at_stride = mp * kern->elem;
  const size_t mtasks = mp / M_TASK;
  const size_t groups = J.W.np / QE_KB4_NB;
  if (channel_major) {
    size_t copies;
    const size_t panel = cm_panel_for(kern, &J.W, m, threads, &copies);
    if (!copies) {
      const size_t panels = qe_div_up(m, panel);
      J.panel = panel;
      J.nworkers = QE_MIN(QE_MIN(threads > 1 ? 4 * threads : 1, panels), mp / panel);
      qe_parallel_for(num_threads, J.nworkers, cm_panel_task, &J);
      return;
    }
    atomic_size_t next_chunk;
    atomic_init(&next_chunk, 0);
    J.next_chunk = &next_chunk;
    J.copy_bytes = cm_copy_bytes(kern, &J.W, m);
    J.n_per_task = qe_div_up(groups, QE_MIN(4 * threads, groups)) * QE_KB4_NB;
    qe_parallel_for(num_threads, copies, cm_copy_task, &J);
    return;
  }
  size_t chunks = 1;
  /* split channels only when there are not two position tiles per thread: the fused single
   * pass below beats a separate packing pass (2-thread MobileNetV2, 90% 1x4: 1.60 -> 1.39 ms) */
  if (threads > 1 && mtasks < 2 * threads)
    chunks = QE_MIN(qe_div_up(4 * threads, mtasks), groups);
  J.n_per_task = qe_div_up(groups, chunks) * QE_KB4_NB;
  J.n_nchunks = qe_div_up(J.W.np, J.n_per_task);
  if (J.n_nchunks == 1) {
    /* several tasks per thread, so that a thread descheduled on a busy machine holds back
     * little work (the scratch holds one slab per position tile) */
    J.nworkers = threads > 1 ? QE_MIN(4 * threads, mtasks) : 1;
    qe_parallel_for(num_threads, J.nworkers, fused_task, &J);
    return;
  }
  if (J.W.kblocks) qe_parallel_for(num_threads, mtasks, pack_task, &J);
  qe_parallel_for(num_threads, mtasks * J.n_nchunks, mm_task, &J);
}

void qe_spmm_kb4_run(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m,
                     const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride, int32_t zo,
                     int32_t qmin, int32_t qmax, void* scratch, int num_threads) {
  run(kern, packed, m, a, a_stride, c, c_stride, zo, qmin, qmax, scratch, num_threads, 0);
}

void qe_spmm_kb4_run_cm(const qe_spmm_kb4_kernel* kern, const void* packed, size_t m,
                        const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                        int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                        int num_threads) {
  run(kern, packed, m, a, a_stride, c, c_stride, zo, qmin, qmax, scratch, num_threads, 1);
}
