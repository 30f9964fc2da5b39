/* Elementwise add / mul driver: numpy broadcasting over up to QE_ELTWISE_MAX_DIMS dims,
 * row microkernels along the last dim, kernel table, threads. Tasks are (row, chunk of the
 * row); every output element is computed once by the same kernel whatever the threads. */
#include "eltwise/eltwise.h"

#include "common/qe_dispatch.h"

static const struct {
  const char* name;
  qe_qs8_vadd_ukernel vv, vs;
} kAdd[QE_ISA_COUNT] = {
    [QE_ISA_SCALAR] = {"qe_qs8_vadd_minmax__scalar", qe_qs8_vadd_minmax_ukernel__scalar,
                       qe_qs8_vaddc_minmax_ukernel__scalar},
#ifdef QE_HAVE_AVX2
    [QE_ISA_AVX2] = {"qe_qs8_vadd_minmax__avx2", qe_qs8_vadd_minmax_ukernel__avx2,
                     qe_qs8_vaddc_minmax_ukernel__avx2},
#endif
#ifdef QE_HAVE_AVX512VNNI
    [QE_ISA_AVX512VNNI] = {"qe_qs8_vadd_minmax__avx512vnni",
                           qe_qs8_vadd_minmax_ukernel__avx512vnni,
                           qe_qs8_vaddc_minmax_ukernel__avx512vnni},
#endif
#ifdef QE_HAVE_NEON
    [QE_ISA_NEON] = {"qe_qs8_vadd_minmax__neon", qe_qs8_vadd_minmax_ukernel__neon,
                     qe_qs8_vaddc_minmax_ukernel__neon},
#endif
};

const char* qe_qs8_vadd_name(void) { return kAdd[QE_PICK(kAdd, vv)].name; }

#define QE_ELT_CHUNK 8192 /* elements per task at most */

typedef struct {
  size_t ndim, rows, n, chunks;
  size_t shape[QE_ELTWISE_MAX_DIMS];
  const int8_t *a, *b;
  size_t as[QE_ELTWISE_MAX_DIMS], bs[QE_ELTWISE_MAX_DIMS];
  int8_t* y;
  int is_add;
  qe_qs8_add_params add, add_swapped;
  qe_qs8_mul_params mul;
  qe_qs8_vadd_ukernel vv, vs;
} elt_job;

static void elt_task(void* ctx, size_t t) {
  const elt_job* J = (const elt_job*)ctx;
  const size_t row = t / J->chunks, i0 = (t % J->chunks) * QE_ELT_CHUNK;
  const size_t len = QE_MIN(QE_ELT_CHUNK, J->n - i0);
  size_t ao, bo;
  qe_bcast_row_offsets(J->ndim, J->shape, J->as, J->bs, row, &ao, &bo);
  const size_t ai = J->as[J->ndim - 1], bi = J->bs[J->ndim - 1];
  const int8_t* a = J->a + ao + i0 * ai;
  const int8_t* b = J->b + bo + i0 * bi;
  int8_t* y = J->y + row * J->n + i0;
  if (!J->is_add) {
    qe_qs8_vmul_minmax_ukernel__scalar(len, a, ai, b, bi, y, &J->mul);
  } else if (ai && bi) {
    J->vv(len, a, b, y, &J->add);
  } else if (ai) {
    J->vs(len, a, b, y, &J->add);
  } else if (bi) {
    J->vs(len, b, a, y, &J->add_swapped);
  } else {
    qe_qs8_vaddc_minmax_ukernel__scalar(1, a, b, y, &J->add);  /* one value, repeated */
    for (size_t i = 1; i < len; i++) y[i] = y[0];
  }
}

static void run(elt_job* J, size_t ndim, const size_t* shape, const size_t* as,
                const size_t* bs, int num_threads) {
  J->ndim = ndim;
  J->rows = 1;
  for (size_t d = 0; d < ndim; d++) {
    J->shape[d] = shape[d];
    J->as[d] = as[d];
    J->bs[d] = bs[d];
    if (d + 1 < ndim) J->rows *= shape[d];
  }
  J->n = shape[ndim - 1];
  if (J->rows == 0 || J->n == 0) return;
  J->chunks = qe_div_up(J->n, QE_ELT_CHUNK);
  /* short rows: one task per several rows would be better; threads only when worth it */
  const size_t total = J->rows * J->n;
  if (total < 4096) num_threads = 1;
  qe_parallel_for(num_threads, J->rows * J->chunks, elt_task, J);
}

void qe_qs8_add(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                const int8_t* b, const size_t* b_strides, int8_t* y,
                const qe_qs8_add_params* p, int num_threads) {
  elt_job J = {0};
  const int isa = QE_PICK(kAdd, vv);
  J.a = a, J.b = b, J.y = y, J.is_add = 1, J.add = *p, J.add_swapped = *p;
  J.add_swapped.ka = p->kb, J.add_swapped.kb = p->ka;
  J.vv = kAdd[isa].vv, J.vs = kAdd[isa].vs;
  run(&J, ndim, shape, a_strides, b_strides, num_threads);
}

void qe_qs8_mul(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                const int8_t* b, const size_t* b_strides, int8_t* y,
                const qe_qs8_mul_params* p, int num_threads) {
  elt_job J = {0};
  J.a = a, J.b = b, J.y = y, J.mul = *p;
  run(&J, ndim, shape, a_strides, b_strides, num_threads);
}
