/* qengine public C interface: 2-D convolution (csrc/conv/, csrc/dwconv/).
 *
 * y = requant(bias[o] + sum_{ky,kx,c} xpad[n, oy*sh + ky*dh, ox*sw + kx*dw, g*Cg + c]
 *                                      * w[o, ky, kx, c])          (eq. 3 and 5)
 * x int8 NHWC [N, H, W, C]; w int8 OHWI [O, kh, kw, C / groups]; y int8 NHWC
 * [N, Ho, Wo, O]; xpad is x padded with pad_value (the input zero point, so the folded
 * bias of eq. 3 stays exact); output channel o belongs to group g = o / (O / groups).
 *
 * Use: fill the shape fields of a qe_conv2d, call qe_conv2d_setup (picks the path and the
 * kernels for an ISA variant), pack the weights once into qe_conv2d_packed_size bytes,
 * then call qe_conv2d_run as often as needed with qe_conv2d_scratch_size bytes of
 * scratch. Packed weights belong to the (setup, ISA) they were packed for.
 * Ranges: as in qengine.h; C % groups == 0, O % groups == 0, strides and dilations >= 1,
 * output size >= 1 (the caller checks with qe_conv2d_out_size). */
#ifndef QENGINE_CONV_H
#define QENGINE_CONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  QE_CONV_IM2COL = 0,    /* general: im2col row blocks -> GEMM microkernels, per group */
  QE_CONV_GEMM_1X1 = 1,  /* 1x1, stride 1, no padding, groups 1: the input is the GEMM A */
  QE_CONV_DEPTHWISE = 2  /* groups == C: the dwconv kernel family */
} qe_conv_path;

typedef struct {
  /* set by the caller */
  size_t c, o, kh, kw;
  size_t stride_h, stride_w, dilation_h, dilation_w;
  size_t pad_top, pad_left, pad_bottom, pad_right;
  size_t groups;
  int32_t pad_value;
  /* set by qe_conv2d_setup */
  int isa, path;
} qe_conv2d;

/* Picks the path (force_generic != 0: always QE_CONV_IM2COL) for ISA variant isa. */
void qe_conv2d_setup(qe_conv2d* conv, int isa, int force_generic);
/* Output height/width; 0 when the padded input is smaller than the dilated kernel. */
void qe_conv2d_out_size(const qe_conv2d* conv, size_t h, size_t w, size_t* ho, size_t* wo);
/* Name of the kernel doing the work, e.g. "qe_qs8_dwconv_minmax_3x3_32c__avx512vnni". */
const char* qe_conv2d_kernel_name(const qe_conv2d* conv);

size_t qe_conv2d_packed_size(const qe_conv2d* conv);
void qe_conv2d_pack(const qe_conv2d* conv, const int8_t* w, const int32_t* bias,
                    const int32_t* m0, const int32_t* sh, void* packed);

size_t qe_conv2d_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                              int num_threads);
void qe_conv2d_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h, size_t w,
                   const int8_t* x, int8_t* y, int32_t zo, int32_t qmin, int32_t qmax,
                   void* scratch, int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* QENGINE_CONV_H */
