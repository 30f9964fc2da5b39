/* qengine public C interface: int16 activations x int8 weights ("16x8", the fixed-point
 * scheme's wide activations; docs/QUANTIZATION.md section 13).
 *
 * Activations int16 (zero point zi / zo in [-32768, 32767], 0 in the fixed scheme);
 * weights int8 in [-127, 127]; bias int64 with |bias| <= 2^40; m0 in [0, 2^31), sh in
 * [1, 62]; qmin <= qmax within the output type. Accumulators are the exact sum (eq. 20):
 * int32 when the per-channel bound of eq. 21 proves it cannot overflow, else int64 -- the
 * choice is made once, when weights are packed, and both give the same, true sum.
 * Outputs are int16, or int8 (out8 = 1) for a 16-bit layer that feeds an 8-bit one.
 * Same conventions as qengine.h: nothing allocates, arguments are trusted (Python
 * validates them), results are identical for every ISA variant and thread count. */
#ifndef QENGINE_QS16_H
#define QENGINE_QS16_H

#include <stddef.h>
#include <stdint.h>

#include "qengine_conv.h"
#include "qengine_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM: C[m, n] = requant(bias[n] + sum_k A[m, k] * W[n, k])  (eq. 20, 5, 22) ---- */
typedef struct qe_qs16_gemm_kernel qe_qs16_gemm_kernel;

const qe_qs16_gemm_kernel* qe_qs16_gemm_kernel_for(int isa); /* NULL if not compiled */
/* acc64 = 0: the int32-accumulator kernel, 1: the int64 one. */
const char* qe_qs16_gemm_kernel_name(const qe_qs16_gemm_kernel* kernel, int acc64);
void qe_qs16_gemm_kernel_tile(const qe_qs16_gemm_kernel* kernel, int* mr, int* nr, int* kr);

/* eq. 21: 1 when some channel n has |bias[n]| + 32768 * sum_k |W[n, k]| > 2^31 - 1. */
int qe_qs16_gemm_needs_acc64(size_t n, size_t k, const int8_t* w, const int64_t* bias);

size_t qe_qs16_gemm_packed_w_size(const qe_qs16_gemm_kernel* kernel, size_t n, size_t k);
/* Packs W [n, k] with bias/m0/sh and records the accumulator width (eq. 21). */
void qe_qs16_gemm_pack_w(const qe_qs16_gemm_kernel* kernel, size_t n, size_t k,
                         const int8_t* w, const int64_t* bias, const int32_t* m0,
                         const int32_t* sh, void* packed_w);
int qe_qs16_gemm_packed_acc64(const void* packed_w);

size_t qe_qs16_gemm_scratch_size(const qe_qs16_gemm_kernel* kernel, size_t m, size_t k);
/* a: row i at a + i * a_stride (elements); c: int16 (out8 = 0) or int8 (out8 = 1), row i at
 * c + i * c_stride elements. */
void qe_qs16_gemm_run(const qe_qs16_gemm_kernel* kernel, size_t m, size_t n, size_t k,
                      const int16_t* a, size_t a_stride, const void* packed_w, void* c,
                      size_t c_stride, int out8, int32_t zo, int32_t qmin, int32_t qmax,
                      void* scratch, int num_threads);

/* ---- 2-D convolution, int16 NHWC in (qe_conv2d geometry of qengine_conv.h) ------------- */
/* Paths as for int8: 1x1 as one GEMM, depthwise (groups == C) its own kernel, anything
 * else im2col (int16 rows, padded with pad_value) through the GEMM above. */
void qe_qs16_conv2d_setup(qe_conv2d* conv, int isa, int force_generic);
const char* qe_qs16_conv2d_kernel_name(const qe_conv2d* conv, const void* packed);
size_t qe_qs16_conv2d_packed_size(const qe_conv2d* conv);
void qe_qs16_conv2d_pack(const qe_conv2d* conv, const int8_t* w, const int64_t* bias,
                         const int32_t* m0, const int32_t* sh, void* packed);
int qe_qs16_conv2d_packed_acc64(const qe_conv2d* conv, const void* packed);
size_t qe_qs16_conv2d_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                                   int num_threads);
void qe_qs16_conv2d_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h,
                        size_t w, const int16_t* x, void* y, int out8, int32_t zo,
                        int32_t qmin, int32_t qmax, void* scratch, int num_threads);

/* ---- Elementwise and pooling (int16 in, int16 out) ------------------------------------- */
/* eq. 23: acc = a * ka + b * kb + bias in int64 (exact), y = eq. 5. |ka|, |kb| <= 2^20,
 * |bias| <= 2^37. Same-shape inputs (qe_qs16_add_bcast below broadcasts). */
typedef struct {
  int32_t ka, kb;
  int64_t bias;
  int32_t m0, sh, zo, qmin, qmax;
} qe_qs16_add_params;
void qe_qs16_add(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                 const qe_qs16_add_params* p, int num_threads);
/* The same with numpy broadcasting, geometry as qe_qs8_add (qengine_ops.h): ndim <=
 * QE_ELTWISE_MAX_DIMS coalesced dims, strides in elements, 0 on broadcast dims; y is
 * contiguous. */
void qe_qs16_add_bcast(size_t ndim, const size_t* shape, const int16_t* a,
                       const size_t* a_strides, const int16_t* b, const size_t* b_strides,
                       int16_t* y, const qe_qs16_add_params* p, int num_threads);

/* eq. 14 on int16 (geometry of qengine_ops.h). */
void qe_qs16_maxpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y, int32_t qmin,
                     int32_t qmax, int num_threads);
/* eq. 15 with int64 sums; m0/sh per window count as for int8 (kh * kw + 1 entries). */
void qe_qs16_avgpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y,
                     const qe_qs8_avgpool_params* p, int num_threads);
/* eq. 16 with an int64 sum: acc = sum_hw x + bias, bias = -hw * zi. */
typedef struct {
  int64_t bias;
  int32_t m0, sh, zo, qmin, qmax;
} qe_qs16_gavgpool_params;
void qe_qs16_gavgpool(size_t n, size_t hw, size_t c, const int16_t* x, int16_t* y,
                      const qe_qs16_gavgpool_params* p, int num_threads);

/* ---- Float boundary and requantization ----------------------------------------------- */
/* eq. 17 / 18 with the int16 range: q = clamp(floor(u), -32768 - z, 32767 - z) + z. */
void qe_f32_qs16_quantize(size_t n, const float* x, int16_t* y, const qe_f32_qs8_params* p,
                          int num_threads);
void qe_qs16_f32_dequantize(size_t n, const int16_t* x, float* y, const qe_qs8_f32_params* p,
                            int num_threads);
/* eq. 12 without the table: y = eq. 5 (x - zi, m0, sh, zo, qmin, qmax); x and y each int16
 * (in16 / out16 = 1) or int8. */
typedef struct {
  int32_t zi, m0, sh, zo, qmin, qmax;
} qe_qs16_requant_params;
void qe_qs16_requantize(size_t n, const void* x, int in16, void* y, int out16,
                        const qe_qs16_requant_params* p, int num_threads);

/* Kernel names for profiles: "dwconv", "add", "maxpool", "avgpool", "gavgpool",
 * "quantize", "dequantize", "requantize"; "" for an unknown op. */
const char* qe_qs16_ops_kernel_name(const char* op);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_QS16_H */
