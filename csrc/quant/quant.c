/* Quantize / dequantize drivers: kernel table and threads over fixed chunks. */
#include "quant/quant.h"

#include "common/qe_dispatch.h"

static const struct {
  const char *q_name, *dq_name;
  qe_f32_qs8_ukernel q;
  qe_qs8_f32_ukernel dq;
} kCvt[QE_ISA_COUNT] = {
#define ENTRY(isa)                                                                       \
  {"qe_f32_qs8_vcvt__" #isa, "qe_qs8_f32_vcvt__" #isa, qe_f32_qs8_vcvt_ukernel__##isa,   \
   qe_qs8_f32_vcvt_ukernel__##isa}
    [QE_ISA_SCALAR] = ENTRY(scalar),
#ifdef QE_HAVE_AVX2
    [QE_ISA_AVX2] = ENTRY(avx2),
#endif
#ifdef QE_HAVE_AVX512VNNI
    [QE_ISA_AVX512VNNI] = {"qe_f32_qs8_vcvt__avx512vnni", NULL,
                           qe_f32_qs8_vcvt_ukernel__avx512vnni, NULL}, /* dq: avx2's */
#endif
#ifdef QE_HAVE_NEON
    [QE_ISA_NEON] = ENTRY(neon),
#endif
#undef ENTRY
};

const char* qe_f32_qs8_name(void) { return kCvt[QE_PICK(kCvt, q)].q_name; }
const char* qe_qs8_f32_name(void) { return kCvt[QE_PICK(kCvt, dq)].dq_name; }

#define QE_CVT_CHUNK 8192

typedef struct {
  size_t n;
  const void* x;
  void* y;
  const void* p;
  qe_f32_qs8_ukernel q;
  qe_qs8_f32_ukernel dq;
} cvt_job;

static void cvt_task(void* ctx, size_t t) {
  const cvt_job* J = (const cvt_job*)ctx;
  const size_t i0 = t * QE_CVT_CHUNK, len = QE_MIN(QE_CVT_CHUNK, J->n - i0);
  if (J->q)
    J->q(len, (const float*)J->x + i0, (int8_t*)J->y + i0, (const qe_f32_qs8_params*)J->p);
  else
    J->dq(len, (const int8_t*)J->x + i0, (float*)J->y + i0, (const qe_qs8_f32_params*)J->p);
}

void qe_f32_qs8_quantize(size_t n, const float* x, int8_t* y, const qe_f32_qs8_params* p,
                         int num_threads) {
  if (n == 0) return;
  cvt_job J = {n, x, y, p, kCvt[QE_PICK(kCvt, q)].q, NULL};
  qe_parallel_for(num_threads, qe_div_up(n, QE_CVT_CHUNK), cvt_task, &J);
}

void qe_qs8_f32_dequantize(size_t n, const int8_t* x, float* y, const qe_qs8_f32_params* p,
                           int num_threads) {
  if (n == 0) return;
  cvt_job J = {n, x, y, p, NULL, kCvt[QE_PICK(kCvt, dq)].dq};
  qe_parallel_for(num_threads, qe_div_up(n, QE_CVT_CHUNK), cvt_task, &J);
}
