/* The graph executor's step adapters for every version-1 operator (docs/FORMAT.md).
 *
 * Each step is a plain-data op record, filled once at load by the runtime (qengine/ops.py
 * checks every field first), and a qe_step_<op> function that adds the arena base to the
 * record's byte offsets and calls the kernel. Records never change while a plan runs, so
 * concurrent runs with separate arenas and scratch buffers may share them. Signatures
 * follow qe_step_fn (qengine_runtime.h). */
#ifndef QENGINE_STEPS_H
#define QENGINE_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "qengine_conv.h"
#include "qengine_ops.h"
#include "qengine_runtime.h"
#include "qengine_sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conv2D through the pack-once conv API: every path (1x1 GEMM, depthwise, im2col). */
typedef struct {
  qe_conv2d conv;       /* after qe_conv2d_setup */
  const void* packed;   /* qe_conv2d_pack output */
  size_t n, h, w;
  size_t in, out;       /* arena byte offsets */
  int32_t zo, qmin, qmax;
} qe_conv_op;
void qe_step_conv2d(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* FullyConnected / 1x1 Conv2D with sparse weights (storage "csr"): A [m, k] -> C [m, n]. */
typedef struct {
  const qe_spmm_kernel* kernel;
  const void* packed;   /* qe_spmm_pack output */
  size_t m, n, k;
  size_t in, out;       /* arena byte offsets */
  int32_t zo, qmin, qmax;
} qe_spmm_op;
void qe_step_spmm(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* The same with 1x4 K-blocked weights (storage "kb4"): A [m, k] -> C [m, n]. */
typedef struct {
  const qe_spmm_kb4_kernel* kernel;
  const void* packed;   /* qe_spmm_kb4_pack output */
  size_t m, n, k;
  size_t in, out;       /* arena byte offsets */
  int32_t zo, qmin, qmax;
} qe_spmm_kb4_op;
void qe_step_spmm_kb4(const void* op, uint8_t* arena, void* scratch, int num_threads);

typedef struct {
  qe_pool_geometry g;
  size_t in, out;
  int32_t qmin, qmax;
} qe_maxpool_op;
void qe_step_maxpool(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* params.m0 / params.sh point to kh * kw + 1 entries kept alive by the owner */
typedef struct {
  qe_pool_geometry g;
  qe_qs8_avgpool_params params;
  size_t in, out;
} qe_avgpool_op;
void qe_step_avgpool(const void* op, uint8_t* arena, void* scratch, int num_threads);

typedef struct {
  size_t n, hw, c;
  qe_qs8_gavgpool_params params;
  size_t in, out;
} qe_gavgpool_op;
void qe_step_gavgpool(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Add / Mul: coalesced broadcast geometry (strides in elements, 0 = broadcast). */
typedef struct {
  size_t ndim;
  size_t shape[QE_ELTWISE_MAX_DIMS];
  size_t a_strides[QE_ELTWISE_MAX_DIMS];
  size_t b_strides[QE_ELTWISE_MAX_DIMS];
  size_t a, b, out;
  qe_qs8_add_params add;
  qe_qs8_mul_params mul;
} qe_eltwise_op;
void qe_step_add(const void* op, uint8_t* arena, void* scratch, int num_threads);
void qe_step_mul(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Concat along the last axis. The record keeps a template of the kernel's input
 * descriptors (x unused) and each input's arena byte offset; the step copies the
 * descriptors into scratch and fills in the pointers there, so the record stays read-only
 * (concurrent runs share it). Scratch: qe_concat_scratch_size(n_inputs). */
typedef struct {
  size_t pixels, n_inputs;
  const qe_qs8_concat_input* inputs;  /* n_inputs entries */
  const size_t* in;                   /* n_inputs arena byte offsets */
  size_t out;
} qe_concat_op;
size_t qe_concat_scratch_size(size_t n_inputs);
void qe_step_concat(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* Lut and Requantize (a table built at load, eq. 12 / 13). */
typedef struct {
  size_t n;
  size_t in, out;
  int8_t table[256];
} qe_lut_op;
void qe_step_lut(const void* op, uint8_t* arena, void* scratch, int num_threads);

typedef struct {
  size_t rows, n;
  size_t in, out;
  int int8_out;
  uint32_t table[256];
} qe_softmax_op;
void qe_step_softmax(const void* op, uint8_t* arena, void* scratch, int num_threads);

/* A step with nothing to do (an empty output). */
void qe_step_nop(const void* op, uint8_t* arena, void* scratch, int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_STEPS_H */
