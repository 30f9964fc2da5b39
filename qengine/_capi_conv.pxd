# C declarations of csrc/include/qengine_conv.h (2-D convolution).
from libc.stdint cimport int8_t, int32_t

cdef extern from "qengine.h" nogil:
    ctypedef struct qe_conv2d:
        size_t c, o, kh, kw
        size_t stride_h, stride_w, dilation_h, dilation_w
        size_t pad_top, pad_left, pad_bottom, pad_right
        size_t groups
        int32_t pad_value
        int isa, path
    int QE_CONV_IM2COL, QE_CONV_GEMM_1X1, QE_CONV_DEPTHWISE
    void qe_conv2d_setup(qe_conv2d* conv, int isa, int force_generic)
    void qe_conv2d_out_size(const qe_conv2d* conv, size_t h, size_t w, size_t* ho, size_t* wo)
    const char* qe_conv2d_kernel_name(const qe_conv2d* conv)
    size_t qe_conv2d_packed_size(const qe_conv2d* conv)
    void qe_conv2d_pack(const qe_conv2d* conv, const int8_t* w, const int32_t* bias,
                        const int32_t* m0, const int32_t* sh, void* packed)
    size_t qe_conv2d_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                                  int num_threads)
    void qe_conv2d_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h,
                       size_t w, const int8_t* x, int8_t* y, int32_t zo, int32_t qmin,
                       int32_t qmax, void* scratch, int num_threads)
