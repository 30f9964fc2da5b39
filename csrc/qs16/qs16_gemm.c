/* 16x8 GEMM driver: the kernel table, the accumulator-width decision (eq. 21), weight and
 * activation packing, tiling and threads. ISA-neutral; microkernels in qs16_gemm_*.c. */
#include <string.h>

#include "qs16/qs16.h"

/* The one list of 16x8 GEMM kernels. neondot has no int16 dot product: it runs neon. */
const qe_qs16_gemm_kernel* qe_qs16_gemm_kernel_for(int isa) {
  switch (isa) {
    case QE_ISA_SCALAR: return &qe_qs16_gemm_kernel__scalar;
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return &qe_qs16_gemm_kernel__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return &qe_qs16_gemm_kernel__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return &qe_qs16_gemm_kernel__neon;
#ifdef QE_HAVE_NEONDOT
    case QE_ISA_NEONDOT: return &qe_qs16_gemm_kernel__neon;
#endif
#endif
    default: return NULL;
  }
}

const char* qe_qs16_gemm_kernel_name(const qe_qs16_gemm_kernel* k, int acc64) {
  return acc64 ? k->name64 : k->name32;
}

void qe_qs16_gemm_kernel_tile(const qe_qs16_gemm_kernel* k, int* mr, int* nr, int* kr) {
  *mr = (int)k->mr;
  *nr = (int)k->nr;
  *kr = (int)k->kr;
}

/* eq. 21: with |a| <= 32768, every partial sum of channel n is bounded by
 * |bias[n]| + 32768 * sum_k |W[n, k]|; int32 is safe when that is <= 2^31 - 1. */
int qe_qs16_gemm_needs_acc64(size_t n, size_t kdim, const int8_t* w, const int64_t* bias) {
  for (size_t j = 0; j < n; j++) {
    int64_t s = 0;
    for (size_t kk = 0; kk < kdim; kk++) s += w[j * kdim + kk] < 0 ? -w[j * kdim + kk] : w[j * kdim + kk];
    const int64_t b = bias[j] < 0 ? -bias[j] : bias[j];
    if (b + 32768 * s > INT32_MAX) return 1;
  }
  return 0;
}

size_t qe_qs16_gemm_packed_w_size(const qe_qs16_gemm_kernel* k, size_t n, size_t kdim) {
  return QE_QS16_HEADER_BYTES + qe_div_up(n, k->nr) * qe_qs16_panel_bytes(k, kdim);
}

int qe_qs16_gemm_packed_acc64(const void* packed) { return (int)*(const uint32_t*)packed; }

void qe_qs16_gemm_pack_w(const qe_qs16_gemm_kernel* k, size_t n, size_t kdim, const int8_t* w,
                         const int64_t* bias, const int32_t* m0, const int32_t* sh,
                         void* packed) {
  const size_t nr = k->nr, kr = k->kr, kp = qe_round_up(kdim, kr);
  const size_t panel_bytes = qe_qs16_panel_bytes(k, kdim);
  const uint32_t acc64 = (uint32_t)qe_qs16_gemm_needs_acc64(n, kdim, w, bias);
  memset(packed, 0, QE_QS16_HEADER_BYTES);
  *(uint32_t*)packed = acc64;
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    uint8_t* panel = (uint8_t*)packed + QE_QS16_HEADER_BYTES + (j0 / nr) * panel_bytes;
    int32_t* pb = (int32_t*)panel;
    int32_t* pm = pb + nr;
    int32_t* ps = pm + nr;
    int64_t* pb64 = (int64_t*)(ps + nr);
    int16_t* pw = (int16_t*)(pb64 + nr);
    memset(pw, 0, kp * nr * sizeof(int16_t));
    for (size_t j = 0; j < nr; j++) {
      const size_t col = j0 + j;
      if (col >= n) {
        pb[j] = 0, pm[j] = 0, ps[j] = 1, pb64[j] = 0;
        continue;
      }
      for (size_t kk = 0; kk < kdim; kk++)
        pw[(kk / kr) * nr * kr + j * kr + kk % kr] = w[col * kdim + kk];
      pb[j] = acc64 ? 0 : (int32_t)bias[col];
      pb64[j] = bias[col];
      pm[j] = m0[col];
      ps[j] = sh[col];
    }
  }
}

void qe_qs16_gemm_pack_a(const qe_qs16_gemm_kernel* k, size_t m, size_t kdim,
                         const int16_t* a, size_t a_stride, int16_t* out) {
  const size_t kp = qe_round_up(kdim, k->kr);
  for (size_t i = 0; i < m; i++) {
    memcpy(out + i * kp, a + i * a_stride, kdim * sizeof(int16_t));
    for (size_t kk = kdim; kk < kp; kk++) out[i * kp + kk] = 0;
  }
}

/* Rows whose K is a multiple of KR are already in the kernels' layout (any row stride):
 * only odd K with KR = 2 needs the zero-padded copy. */
static int packs_a(const qe_qs16_gemm_kernel* k, size_t kdim) { return kdim % k->kr != 0; }

size_t qe_qs16_gemm_scratch_size(const qe_qs16_gemm_kernel* k, size_t m, size_t kdim) {
  return packs_a(k, kdim) ? m * qe_round_up(kdim, k->kr) * sizeof(int16_t) + 64 : 0;
}

/* Tasks: (a block of rows) x (one panel of NR channels), as in csrc/gemm/gemm.c; tiles do
 * not depend on the thread count, so neither do results. */
typedef struct {
  const qe_qs16_gemm_kernel* k;
  qe_qs16_ukernel_fn ukernel;
  size_t m, n, kp;
  const int16_t* a;
  size_t a_stride;
  const uint8_t* w;
  size_t panel_bytes;
  uint8_t* c;
  size_t c_stride, out_size;
  qe_qs16_params p;
  size_t rows_per_block, n_panels;
} gemm_job;

static void gemm_task(void* ctx, size_t t) {
  const gemm_job* J = (const gemm_job*)ctx;
  const size_t mr = J->k->mr, nr = J->k->nr;
  const size_t block = t / J->n_panels, panel = t % J->n_panels;
  const size_t j0 = panel * nr, nc = QE_MIN(nr, J->n - j0);
  const size_t row_end = QE_MIN(J->m, (block + 1) * J->rows_per_block);
  const void* w = J->w + panel * J->panel_bytes;
  for (size_t i = block * J->rows_per_block; i < row_end; i += mr)
    J->ukernel(QE_MIN(mr, row_end - i), nc, J->kp, J->a + i * J->a_stride, J->a_stride, w,
               J->c + (i * J->c_stride + j0) * J->out_size, J->c_stride, &J->p);
}

typedef struct {
  const qe_qs16_gemm_kernel* k;
  size_t m, kdim, rows;
  const int16_t* a;
  size_t a_stride;
  int16_t* out;
} pack_job;

static void pack_task(void* ctx, size_t t) {
  const pack_job* J = (const pack_job*)ctx;
  const size_t i0 = t * J->rows, rows = QE_MIN(J->rows, J->m - i0);
  qe_qs16_gemm_pack_a(J->k, rows, J->kdim, J->a + i0 * J->a_stride, J->a_stride,
                      J->out + i0 * qe_round_up(J->kdim, J->k->kr));
}

void qe_qs16_gemm_run(const qe_qs16_gemm_kernel* k, size_t m, size_t n, size_t kdim,
                      const int16_t* a, size_t a_stride, const void* packed_w, void* c,
                      size_t c_stride, int out8, int32_t zo, int32_t qmin, int32_t qmax,
                      void* scratch, int num_threads) {
  if (m == 0 || n == 0) return;
  const size_t kp = qe_round_up(kdim, k->kr);
  if (packs_a(k, kdim)) {
    int16_t* packed_a = (int16_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    pack_job pj = {k, m, kdim, 256, a, a_stride, packed_a};
    qe_parallel_for(num_threads, qe_div_up(m, pj.rows), pack_task, &pj);
    a = packed_a;
    a_stride = kp;
  }
  const int acc64 = qe_qs16_gemm_packed_acc64(packed_w);
  gemm_job J = {k, acc64 ? k->ukernel64 : k->ukernel32, m, n, kp, a, a_stride,
                (const uint8_t*)packed_w + QE_QS16_HEADER_BYTES, qe_qs16_panel_bytes(k, kdim),
                (uint8_t*)c, c_stride, out8 ? 1 : 2, {zo, qmin, qmax, out8}, 0,
                qe_div_up(n, k->nr)};
  size_t rows = QE_MAX((size_t)1, (256u << 10) / QE_MAX(2 * kp, (size_t)1));
  if (num_threads > 1) {
    const size_t want_blocks = qe_div_up(4 * (size_t)num_threads, J.n_panels);
    rows = QE_MIN(rows, qe_div_up(m, want_blocks));
  }
  J.rows_per_block = qe_round_up(QE_MIN(rows, m), k->mr);
  qe_parallel_for(num_threads, qe_div_up(m, J.rows_per_block) * J.n_panels, gemm_task, &J);
}
