/* Elementwise add / mul driver: numpy broadcasting over up to QE_ELTWISE_MAX_DIMS dims,
 * row microkernels along the last dim, kernel table, threads. Tasks are (row, chunk of the
 * row); every output element is computed once by the same kernel whatever the threads. */
#include "eltwise/eltwise.h"

#include "common/qe_dispatch.h"

static const struct {
  const char *add_name, *mul_name;
  qe_qs8_vadd_ukernel add_vv, add_vs;
  qe_qs8_vmul_ukernel mul_vv, mul_vs;
} kElt[QE_ISA_COUNT] = {
#define ENTRY(isa)                                                                       \
  {"qe_qs8_vadd_minmax__" #isa, "qe_qs8_vmul_minmax__" #isa,                             \
   qe_qs8_vadd_minmax_ukernel__##isa, qe_qs8_vaddc_minmax_ukernel__##isa,                \
   qe_qs8_vmul_minmax_ukernel__##isa, qe_qs8_vmulc_minmax_ukernel__##isa}
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

const char* qe_qs8_vadd_name(void) { return kElt[QE_PICK(kElt, add_vv)].add_name; }
const char* qe_qs8_vmul_name(void) { return kElt[QE_PICK(kElt, mul_vv)].mul_name; }

#define QE_ELT_CHUNK 8192 /* elements per task at most */

typedef struct {
  size_t ndim, rows, n, chunks;
  size_t shape[QE_ELTWISE_MAX_DIMS];
  const int8_t *a, *b;
  size_t as[QE_ELTWISE_MAX_DIMS], bs[QE_ELTWISE_MAX_DIMS];
  int8_t* y;
  /* one op's row kernels (b a vector: vv, b one value: vs; the other op's are NULL) and
   * params; [1]: a and b trade places (a is the broadcast one), which eq. 9 and 10 allow
   * with their constants swapped */
  qe_qs8_vadd_ukernel add_vv, add_vs;
  qe_qs8_vmul_ukernel mul_vv, mul_vs;
  qe_qs8_add_params add[2];
  qe_qs8_mul_params mul[2];
} elt_job;

/* One row: b a vector (vector_b) or the value *b; swap selects the swapped params. */
static void row_kernel(const elt_job* J, int vector_b, int swap, size_t n, const int8_t* a,
                       const int8_t* b, int8_t* y) {
  if (J->mul_vv)
    (vector_b ? J->mul_vv : J->mul_vs)(n, a, b, y, &J->mul[swap]);
  else
    (vector_b ? J->add_vv : J->add_vs)(n, a, b, y, &J->add[swap]);
}

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
  if (ai && bi) {
    row_kernel(J, 1, 0, len, a, b, y);
  } else if (ai) {
    row_kernel(J, 0, 0, len, a, b, y);
  } else if (bi) {
    row_kernel(J, 0, 1, len, b, a, y);
  } else {
    row_kernel(J, 0, 0, 1, a, b, y); /* one value, repeated */
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
  const int isa = QE_PICK(kElt, add_vv);
  elt_job J = {0};
  J.a = a, J.b = b, J.y = y, J.add[0] = J.add[1] = *p;
  J.add[1].ka = p->kb, J.add[1].kb = p->ka;
  J.add_vv = kElt[isa].add_vv, J.add_vs = kElt[isa].add_vs;
  run(&J, ndim, shape, a_strides, b_strides, num_threads);
}

void qe_qs8_mul(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                const int8_t* b, const size_t* b_strides, int8_t* y,
                const qe_qs8_mul_params* p, int num_threads) {
  const int isa = QE_PICK(kElt, mul_vv);
  elt_job J = {0};
  J.a = a, J.b = b, J.y = y, J.mul[0] = J.mul[1] = *p;
  J.mul[1].za = p->zb, J.mul[1].zb = p->za;
  J.mul_vv = kElt[isa].mul_vv, J.mul_vs = kElt[isa].mul_vs;
  run(&J, ndim, shape, a_strides, b_strides, num_threads);
}
