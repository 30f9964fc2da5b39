/* Lookup-table driver (eq. 13) and requantization as a table (eq. 12): kernel table,
 * threads. Requantize and concat run through these tables too: an int8 -> int8 function
 * has only 256 inputs, so eq. 5 is evaluated once per input value at load time. */
#include "lut/lut.h"

#include "common/qe_dispatch.h"

static const struct {
  const char* name;
  qe_x8_lut_ukernel fn;
} kLut[QE_ISA_COUNT] = {
    [QE_ISA_SCALAR] = {"qe_x8_lut__scalar", qe_x8_lut_ukernel__scalar},
#ifdef QE_HAVE_AVX2
    [QE_ISA_AVX2] = {"qe_x8_lut__avx2", qe_x8_lut_ukernel__avx2},
#endif
#ifdef QE_HAVE_AVX512VNNI
    [QE_ISA_AVX512VNNI] = {"qe_x8_lut__avx512vnni", qe_x8_lut_ukernel__avx512vnni},
#endif
#ifdef QE_HAVE_NEON
    [QE_ISA_NEON] = {"qe_x8_lut__neon", qe_x8_lut_ukernel__neon},
#endif
};

qe_x8_lut_ukernel qe_x8_lut_ukernel_selected(const char** name) {
  const int isa = QE_PICK(kLut, fn);
  if (name) *name = kLut[isa].name;
  return kLut[isa].fn;
}

void qe_qs8_requant_table(int32_t zi, int32_t m0, int32_t sh, int32_t zo, int32_t qmin,
                          int32_t qmax, int8_t table[256]) {
  for (int q = -128; q < 128; q++)
    table[q + 128] = (int8_t)qe_requant(q - zi, m0, sh, zo, qmin, qmax);
}

#define QE_LUT_CHUNK 16384 /* bytes per task: large enough to amortize a task */

typedef struct {
  qe_x8_lut_ukernel fn;
  size_t n;
  const int8_t* x;
  int8_t* y;
  const int8_t* table;
} lut_job;

static void lut_task(void* ctx, size_t t) {
  const lut_job* J = (const lut_job*)ctx;
  const size_t i0 = t * QE_LUT_CHUNK;
  J->fn(QE_MIN(QE_LUT_CHUNK, J->n - i0), J->x + i0, J->y + i0, J->table);
}

void qe_x8_lut(size_t n, const int8_t* x, int8_t* y, const int8_t table[256], int num_threads) {
  if (n == 0) return;
  lut_job J = {qe_x8_lut_ukernel_selected(NULL), n, x, y, table};
  qe_parallel_for(num_threads, qe_div_up(n, QE_LUT_CHUNK), lut_task, &J);
}
