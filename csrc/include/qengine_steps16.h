/* Step adapters of the int16-activation ops (format 1.1, docs/FORMAT.md "int16
 * activations"): the qengine_steps.h pattern, calling the 16x8 kernels of
 * qengine_qs16.h. MaxPool2D / AvgPool2D int16 reuse the int8 records (qe_maxpool_op,
 * qe_avgpool_op) with their own step functions. */
#ifndef QENGINE_STEPS16_H
#define QENGINE_STEPS16_H

#include <stddef.h>
#include <stdint.h>

#include "qengine_qs16.h"
#include "qengine_steps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FullyConnected, int16 x -> int16 (out8 = 0) or int8 (out8 = 1) y. */
typedef struct {
  const qe_qs16_gemm_kernel* kernel;
  const void* packed_w;  /* qe_qs16_gemm_pack_w output (records int32/int64 accumulators) */
  size_t m, n, k;
  size_t in, out;
  int out8;
  int32_t zo, qmin, qmax;
} qe_fc16_op;
void qe_step_fc16(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Conv2D (every path), int16 x -> int16 / int8 y. */
typedef struct {
  qe_conv2d conv;        /* after qe_qs16_conv2d_setup */
  const void* packed;
  size_t n, h, w;
  size_t in, out;
  int out8;
  int32_t zo, qmin, qmax;
} qe_conv16_op;
void qe_step_conv2d16(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Add of two int16 values (eq. 23), coalesced broadcast geometry as qe_eltwise_op. */
typedef struct {
  size_t ndim;
  size_t shape[QE_ELTWISE_MAX_DIMS];
  size_t a_strides[QE_ELTWISE_MAX_DIMS];
  size_t b_strides[QE_ELTWISE_MAX_DIMS];
  qe_qs16_add_params params;
  size_t a, b, out;
} qe_add16_op;
void qe_step_add16(const void* op, uint8_t* arena, void* scratch, int num_threads);

void qe_step_maxpool16(const void* op, uint8_t* arena, void* scratch, int num_threads);
void qe_step_avgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads);

typedef struct {
  size_t n, hw, c;
  qe_qs16_gavgpool_params params;
  size_t in, out;
} qe_gavgpool16_op;
void qe_step_gavgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Requantize with an int16 side: int8 <-> int16, int16 -> int16 (eq. 24). */
typedef struct {
  size_t n;
  int in16, out16;
  qe_qs16_requant_params params;
  size_t in, out;
} qe_requant16_op;
void qe_step_requant16(const void* op, uint8_t* arena, void* scratch, int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_STEPS16_H */
