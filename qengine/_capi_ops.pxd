# C declarations of csrc/include/qengine_ops.h (the int8 operators besides GEMM/conv).
from libc.stdint cimport int8_t, int32_t, uint32_t

cdef extern from "qengine_ops.h" nogil:
    void qe_x8_lut(size_t n, const int8_t* x, int8_t* y, const int8_t* table, int num_threads)
    void qe_qs8_requant_table(int32_t zi, int32_t m0, int32_t sh, int32_t zo, int32_t qmin,
                              int32_t qmax, int8_t* table)

    ctypedef struct qe_qs8_concat_input:
        const int8_t* x
        size_t channels
        int identity
        int8_t table[256]
    void qe_qs8_concat(size_t pixels, size_t n_inputs, const qe_qs8_concat_input* inputs,
                       int8_t* y, int num_threads)

    int QE_ELTWISE_MAX_DIMS
    ctypedef struct qe_qs8_add_params:
        int32_t ka, kb, bias, m0, sh, zo, qmin, qmax
    ctypedef struct qe_qs8_mul_params:
        int32_t za, zb, m0, sh, zo, qmin, qmax
    void qe_qs8_add(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                    const int8_t* b, const size_t* b_strides, int8_t* y,
                    const qe_qs8_add_params* p, int num_threads)
    void qe_qs8_mul(size_t ndim, const size_t* shape, const int8_t* a, const size_t* a_strides,
                    const int8_t* b, const size_t* b_strides, int8_t* y,
                    const qe_qs8_mul_params* p, int num_threads)

    ctypedef struct qe_pool_geometry:
        size_t n, h, w, c
        size_t kh, kw, stride_h, stride_w
        size_t pad_top, pad_left, pad_bottom, pad_right
        size_t oh, ow
    void qe_qs8_maxpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y, int32_t qmin,
                        int32_t qmax, int num_threads)
    ctypedef struct qe_qs8_avgpool_params:
        int32_t zi, zo, qmin, qmax
        int count_include_pad
        const int32_t* m0
        const int32_t* sh
    void qe_qs8_avgpool(const qe_pool_geometry* g, const int8_t* x, int8_t* y,
                        const qe_qs8_avgpool_params* p, int num_threads)
    int qe_pool_covers_image(const qe_pool_geometry* g)
    ctypedef struct qe_qs8_gavgpool_params:
        int32_t bias, m0, sh, zo, qmin, qmax
    void qe_qs8_gavgpool(size_t n, size_t hw, size_t c, const int8_t* x, int8_t* y,
                         const qe_qs8_gavgpool_params* p, int num_threads)

    ctypedef struct qe_f32_qs8_params:
        float inv_scale
        int32_t zp
    ctypedef struct qe_qs8_f32_params:
        float scale
        int32_t zp
    void qe_f32_qs8_quantize(size_t n, const float* x, int8_t* y, const qe_f32_qs8_params* p,
                             int num_threads)
    void qe_qs8_f32_dequantize(size_t n, const int8_t* x, float* y,
                               const qe_qs8_f32_params* p, int num_threads)

    void qe_qs8_softmax_f32(size_t rows, size_t n, const int8_t* x, float* y,
                            const uint32_t* table, int num_threads)
    void qe_qs8_softmax_qs8(size_t rows, size_t n, const int8_t* x, int8_t* y,
                            const uint32_t* table, int num_threads)

    const char* qe_ops_kernel_name(const char* op)
