/* GEMM driver: the kernel table, weight and activation packing, tiling and threads.
 * ISA-neutral; the microkernels live in qs8_gemm_*.c, one file per variant. */
#include "gemm/gemm.h"

#include <string.h>

/* The one list of GEMM kernels: dispatch, K.isa(), tests and benchmarks all read it. */
const qe_gemm_kernel* qe_gemm_kernel_for(int isa) {
  switch (isa) {
    case QE_ISA_SCALAR: return &qe_gemm_kernel__scalar;
#ifdef QE_HAVE_AVX2
    case QE_ISA_AVX2: return &qe_gemm_kernel__avx2;
#endif
#ifdef QE_HAVE_AVX512VNNI
    case QE_ISA_AVX512VNNI: return &qe_gemm_kernel__avx512vnni;
#endif
#ifdef QE_HAVE_NEON
    case QE_ISA_NEON: return &qe_gemm_kernel__neon;
#endif
#ifdef QE_HAVE_NEONDOT
    case QE_ISA_NEONDOT: return &qe_gemm_kernel__neondot;
#endif
    default: return NULL;
  }
}

const char* qe_gemm_kernel_name(const qe_gemm_kernel* k) { return k->name; }

void qe_gemm_kernel_tile(const qe_gemm_kernel* k, int* mr, int* nr, int* kr) {
  *mr = (int)k->mr;
  *nr = (int)k->nr;
  *kr = (int)k->kr;
}

size_t qe_gemm_packed_w_size(const qe_gemm_kernel* k, size_t n, size_t kdim) {
  return qe_div_up(n, k->nr) * qe_gemm_panel_bytes(k, kdim);
}

void qe_gemm_pack_w(const qe_gemm_kernel* k, size_t n, size_t kdim, const int8_t* w,
                    const int32_t* bias, const int32_t* m0, const int32_t* sh, void* packed) {
  const size_t nr = k->nr, kr = k->kr, kp = qe_round_up(kdim, kr);
  const size_t panel_bytes = qe_gemm_panel_bytes(k, kdim);
  const int32_t a_offset = k->a_xor ? 128 : 0;
  for (size_t j0 = 0; j0 < n; j0 += nr) {
    uint8_t* panel = (uint8_t*)packed + (j0 / nr) * panel_bytes;
    int32_t* pb = (int32_t*)panel;
    int32_t* pm = pb + nr;
    int32_t* ps = pm + nr;
    int8_t* pw = (int8_t*)(ps + nr);
    memset(pw, 0, kp * nr);
    for (size_t j = 0; j < nr; j++) {
      const size_t col = j0 + j;
      if (col >= n) {
        pb[j] = 0, pm[j] = 0, ps[j] = 1;
        continue;
      }
      const int8_t* wrow = w + col * kdim;
      int32_t wsum = 0;
      for (size_t kk = 0; kk < kdim; kk++) {
        wsum += wrow[kk];
        pw[(kk / kr) * nr * kr + j * kr + kk % kr] = wrow[kk];
      }
      /* eq. 7: (a + 128) * w sums to a * w + 128 * sum(w); take the excess out of the bias */
      pb[j] = (int32_t)((uint32_t)bias[col] - (uint32_t)a_offset * (uint32_t)wsum);
      pm[j] = m0[col];
      ps[j] = sh[col];
    }
  }
}

void qe_gemm_pack_a(const qe_gemm_kernel* k, size_t m, size_t kdim, const int8_t* a,
                    size_t a_stride, int8_t* out) {
  const size_t kp = qe_round_up(kdim, k->kr);
  if (kp == kdim && a_stride == kdim) {
    /* rows already packed end to end: one copy (small K, e.g. 16-byte rows, paid a call
     * and an empty memset per row: ~10% of a K = 16 layer) */
    qe_gemm_copy(k, (uint8_t*)out, (const uint8_t*)a, m * kdim);
    return;
  }
  for (size_t i = 0; i < m; i++) {
    uint8_t* dst = (uint8_t*)out + i * kp;
    qe_gemm_copy(k, dst, (const uint8_t*)a + i * a_stride, kdim);
    memset(dst + kdim, 0, kp - kdim);
  }
}

size_t qe_gemm_scratch_size(const qe_gemm_kernel* k, size_t m, size_t kdim) {
  return qe_gemm_packs_a(k) ? m * qe_round_up(kdim, k->kr) + 64 : 0;
}

/* Work is split into tasks of (a block of rows) x (one panel of NR channels); the rows of a
 * block are a multiple of MR and their packed A stays within ~256 KiB (L2) while panels
 * stream past. Tiles do not depend on the thread count, so neither do results. */
typedef struct {
  const qe_gemm_kernel* k;
  size_t m, n, kp;
  const int8_t* a;
  size_t a_stride;
  const uint8_t* w;
  size_t panel_bytes;
  int8_t* c;
  size_t c_stride;
  qe_gemm_params p;
  size_t rows_per_block, n_panels;
} gemm_job;

static void gemm_task(void* ctx, size_t t) {
  const gemm_job* J = (const gemm_job*)ctx;
  const size_t nr = J->k->nr;
  const size_t block = t / J->n_panels, panel = t % J->n_panels;
  const size_t j0 = panel * nr, nc = QE_MIN(nr, J->n - j0);
  const size_t row_end = QE_MIN(J->m, (block + 1) * J->rows_per_block);
  const void* w = J->w + panel * J->panel_bytes;
  const size_t i0 = block * J->rows_per_block;
  qe_gemm_rows(J->k, row_end - i0, nc, J->kp, J->a + i0 * J->a_stride, J->a_stride, w,
               J->c + i0 * J->c_stride + j0, J->c_stride, &J->p);
}

/* When A needs packing and there are enough row blocks, each thread packs one block of
 * rows into its own slot of the scratch (it stays in L2) and runs every weight panel over
 * it: one pass over A instead of a separate packing pass whose output comes back from
 * memory (the 1x1 layers of small-channel networks, where N is one to three panels). */
typedef struct {
  const gemm_job* g;
  size_t kdim, blocks, slots;
  int8_t* buf; /* slots x rows_per_block x kp */
} fused_job;

static void fused_task(void* ctx, size_t s) {
  const fused_job* F = (const fused_job*)ctx;
  const gemm_job* J = F->g;
  const size_t nr = J->k->nr;
  int8_t* a = F->buf + s * J->rows_per_block * J->kp;
  for (size_t blk = s; blk < F->blocks; blk += F->slots) {
    const size_t r0 = blk * J->rows_per_block, rows = QE_MIN(J->rows_per_block, J->m - r0);
    qe_gemm_pack_a(J->k, rows, F->kdim, J->a + r0 * J->a_stride, J->a_stride, a);
    for (size_t panel = 0; panel < J->n_panels; panel++) {
      const size_t j0 = panel * nr, nc = QE_MIN(nr, J->n - j0);
      const void* w = J->w + panel * J->panel_bytes;
      qe_gemm_rows(J->k, rows, nc, J->kp, a, J->kp, w, J->c + r0 * J->c_stride + j0,
                   J->c_stride, &J->p);
    }
  }
}

typedef struct {
  const qe_gemm_kernel* k;
  size_t m, kdim, rows;
  const int8_t* a;
  size_t a_stride;
  int8_t* out;
} pack_job;

static void pack_task(void* ctx, size_t t) {
  const pack_job* J = (const pack_job*)ctx;
  const size_t i0 = t * J->rows, rows = QE_MIN(J->rows, J->m - i0);
  qe_gemm_pack_a(J->k, rows, J->kdim, J->a + i0 * J->a_stride, J->a_stride,
                 J->out + i0 * qe_round_up(J->kdim, J->k->kr));
}

void qe_gemm_run(const qe_gemm_kernel* k, size_t m, size_t n, size_t kdim, const int8_t* a,
                 size_t a_stride, const void* packed_w, int8_t* c, size_t c_stride,
                 int32_t zo, int32_t qmin, int32_t qmax, void* scratch, int num_threads) {
  if (m == 0 || n == 0) return;
  const size_t kp = qe_round_up(kdim, k->kr);
  gemm_job J = {k, m, n, kp, a, a_stride, (const uint8_t*)packed_w,
                qe_gemm_panel_bytes(k, kdim), c, c_stride, {zo, qmin, qmax}, 0,
                qe_div_up(n, k->nr)};
  /* scratch is 64-byte aligned by the caller's size query slack */
  int8_t* buf = (int8_t*)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  /* rows whose K is a multiple of KR are already in the kernel's layout unless XORed */
  if (qe_gemm_packs_a(k) && (k->a_xor || kdim % k->kr != 0)) {
    /* fused when there are at least two blocks per thread (blocks shrink to make that so
     * where M allows), so the static split balances; the slots then take at most m * kp
     * bytes of scratch */
    const size_t threads = (size_t)QE_MAX(num_threads, 1);
    const size_t rows = QE_MIN(qe_gemm_block_rows(n, kp), qe_div_up(m, 2 * threads));
    J.rows_per_block = qe_round_up(rows, k->mr);
    const size_t blocks = qe_div_up(m, J.rows_per_block);
    if (blocks >= 2 * threads) {
      fused_job F = {&J, kdim, blocks, threads, buf};
      qe_parallel_for(num_threads, threads, fused_task, &F);
      return;
    }
    pack_job pj = {k, m, kdim, 256, a, a_stride, buf};
    qe_parallel_for(num_threads, qe_div_up(m, pj.rows), pack_task, &pj);
    J.a = buf;
    J.a_stride = kp;
  }
  size_t rows = QE_MAX((size_t)1, (256u << 10) / QE_MAX(kp, (size_t)1));
  /* with threads, make sure there are a few tasks per thread even when N is one panel */
  if (num_threads > 1) {
    const size_t want_blocks = qe_div_up(4 * (size_t)num_threads, J.n_panels);
    rows = QE_MIN(rows, qe_div_up(m, want_blocks));
  }
  J.rows_per_block = qe_round_up(QE_MIN(rows, m), k->mr);
  qe_parallel_for(num_threads, qe_div_up(m, J.rows_per_block) * J.n_panels, gemm_task, &J);
}
