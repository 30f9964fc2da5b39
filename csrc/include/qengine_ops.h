/* qengine: the int8 operators besides GEMM and convolution (docs/QUANTIZATION.md §6-12).
 *
 * Same conventions as qengine.h: nothing allocates, arguments are trusted (Python validates
 * them), results are identical for every ISA variant and thread count. Activations are
 * int8 NHWC with one (scale, zero point) per tensor. Every parameter struct is plain data,
 * computed once when a model is loaded (qengine/quant.py derives them from real scales;
 * the requantization tables are filled by qe_qs8_requant_table()). */
#ifndef QENGINE_OPS_H
#define QENGINE_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lookup tables (csrc/lut/) ----------------------------------------------------------- */
/* y[i] = table[x[i] + 128]   (eq. 13). Any 8-bit function of one int8 input. */
void qe_x8_lut(size_t n, const int8_t* x, int8_t* y, const int8_t table[256], int num_threads);

/* Requantization as a table (eq. 12): table[q + 128] = eq. 5 applied to acc = q - zi with
 * (m0, sh, zo, qmin, qmax); m0 in [0, 2^31), sh in [1, 62]. */
void qe_qs8_requant_table(int32_t zi, int32_t m0, int32_t sh, int32_t zo, int32_t qmin,
                          int32_t qmax, int8_t table[256]);

/* ---- Concatenation along the last (channel) axis (csrc/concat/) ------------------------ */
typedef struct {
  const int8_t* x;     /* [pixels, channels] rows, contiguous */
  size_t channels;
  int identity;        /* 1: same scale and zero point as the output, plain copy */
  int8_t table[256];   /* else: eq. 12 table from qe_qs8_requant_table */
} qe_qs8_concat_input;

/* y [pixels, sum of channels] */
void qe_qs8_concat(size_t pixels, size_t n_inputs, const qe_qs8_concat_input* inputs,
                   int8_t* y, int num_threads);

/* ---- Elementwise add / mul with broadcasting (csrc/eltwise/) --------------------------- */
/* Shapes: up to QE_ELTWISE_MAX_DIMS dims; a_strides/b_strides in elements, 0 on a broadcast
 * dim, and the last dim's stride is 0 or 1. y is contiguous with the given shape. */
#define QE_ELTWISE_MAX_DIMS 6

/* eq. 9: acc = a * ka + b * kb + bias; y = eq. 5 (acc, m0, sh, zo, qmin, qmax).
 * |ka|, |kb| <= 2^20, |bias| <= 2^28, |acc| < 2^29 (bounds in §7). */
typedef struct {
  int32_t ka, kb, bias, m0, sh, zo, qmin, qmax;
} qe_qs8_add_params;

/* eq. 10: acc = (a - za) * (b - zb); y = eq. 5 (acc, m0, sh, zo, qmin, qmax). */
typedef struct {
  int32_t za, zb, m0, sh, zo, qmin, qmax;
} qe_qs8_mul_params;

void qe_qs8_add(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                const int8_t* b, const size_t* b_strides, int8_t* y,
                const qe_qs8_add_params* p, int num_threads);
void qe_qs8_mul(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                const int8_t* b, const size_t* b_strides, int8_t* y,
                const qe_qs8_mul_params* p, int num_threads);

/* ---- Pooling (csrc/pool/) ------------------------------------------------------------------ */
/* Window geometry; output size oh = (h + pad_top + pad_bottom - kh) / stride_h + 1 (floor),
 * likewise ow. Needs pad_top, pad_bottom < kh and pad_left, pad_right < kw, so every
 * window holds at least one real pixel. */
typedef struct {
  size_t n, h, w, c;
  size_t kh, kw, stride_h, stride_w;
  size_t pad_top, pad_left, pad_bottom, pad_right;
  size_t oh, ow;
} qe_pool_geometry;

/* eq. 14: max over the window's real pixels (padding never wins), then clamp. */
void qe_qs8_maxpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y, int32_t qmin,
                    int32_t qmax, int num_threads);

/* eq. 15: acc = sum over the window's real pixels of (x - zi); divided by count, the
 * number of real pixels (count_include_pad = 0) or kh * kw (count_include_pad = 1), through
 * the per-count multiplier m0[count], sh[count] (arrays of kh * kw + 1 entries). */
typedef struct {
  int32_t zi, zo, qmin, qmax;
  int count_include_pad;
  const int32_t* m0;
  const int32_t* sh;
} qe_qs8_avgpool_params;

void qe_qs8_avgpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y,
                    const qe_qs8_avgpool_params* p, int num_threads);

/* 1 when the window's only output pixel covers the whole image: qe_qs8_avgpool then runs
 * the global average pool kernel. */
int qe_pool_covers_image(const qe_pool_geometry* g);

/* eq. 16: y[n, c] = eq. 5 (sum_hw x[n, hw, c] + bias, m0, sh, zo), bias = -hw * zi,
 * with M = s_in / (s_out * hw). Needs hw * 255 < 2^31. */
typedef struct {
  int32_t bias, m0, sh, zo, qmin, qmax;
} qe_qs8_gavgpool_params;

void qe_qs8_gavgpool(size_t n, size_t hw, size_t c, const int8_t* x, int8_t* y,
                     const qe_qs8_gavgpool_params* p, int num_threads);

/* ---- Quantize / dequantize (csrc/quant/) ---------------------------------------------- */
/* eq. 17, float32 throughout, no fused multiply-add:
 *   u = fl(fl(x * inv_scale) + 0.5f); NaN -> u = 0; q = clamp(floor(u) + zp, -128, 127) */
typedef struct {
  float inv_scale;
  int32_t zp;
} qe_f32_qs8_params;

/* eq. 18: r = fl(scale * (float)(q - zp)) */
typedef struct {
  float scale;
  int32_t zp;
} qe_qs8_f32_params;

void qe_f32_qs8_quantize(size_t n, const float* x, int8_t* y, const qe_f32_qs8_params* p,
                         int num_threads);
void qe_qs8_f32_dequantize(size_t n, const int8_t* x, float* y, const qe_qs8_f32_params* p,
                           int num_threads);

/* ---- Softmax over the last axis (csrc/softmax/) -------------------------------------- */
/* eq. 19: e_i = table[max_j x_j - x_i] (table[d] = round(2^23 exp(-s d)), table[0] = 2^23),
 * S = sum_i e_i (exact, 64-bit). float32 out: y_i = fl((float)e_i / (float)S).
 * int8 out (scale 1/256, zero point -128): y_i = min(floor((512 e_i + S) / (2 S)) - 128, 127). */
void qe_qs8_softmax_f32(size_t rows, size_t n, const int8_t* x, float* y,
                        const uint32_t table[256], int num_threads);
void qe_qs8_softmax_qs8(size_t rows, size_t n, const int8_t* x, int8_t* y,
                        const uint32_t table[256], int num_threads);

/* Names of the kernels that the selected ISA variant runs, for profiles and benchmarks
 * (op: "lut" (also requantize, concat), "add", "mul", "maxpool", "avgpool", "gavgpool",
 * "quantize", "dequantize", "softmax"); "" for an unknown op. */
const char* qe_ops_kernel_name(const char* op);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_OPS_H */
