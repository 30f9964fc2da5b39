# C declarations of csrc/include/qengine_qs16.h (int16 activations x int8 weights).
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t
from qengine._capi_conv cimport qe_conv2d
from qengine._capi_ops cimport qe_pool_geometry, qe_qs8_avgpool_params, qe_f32_qs8_params, qe_qs8_f32_params

cdef extern from "qengine.h" nogil:
    ctypedef struct qe_qs16_gemm_kernel:
        pass
    const qe_qs16_gemm_kernel* qe_qs16_gemm_kernel_for(int isa)
    const char* qe_qs16_gemm_kernel_name(const qe_qs16_gemm_kernel* kernel, int acc64)
    void qe_qs16_gemm_kernel_tile(const qe_qs16_gemm_kernel* kernel, int* mr, int* nr, int* kr)
    int qe_qs16_gemm_needs_acc64(size_t n, size_t k, const int8_t* w, const int64_t* bias)
    size_t qe_qs16_gemm_packed_w_size(const qe_qs16_gemm_kernel* kernel, size_t n, size_t k)
    void qe_qs16_gemm_pack_w(const qe_qs16_gemm_kernel* kernel, size_t n, size_t k,
                             const int8_t* w, const int64_t* bias, const int32_t* m0,
                             const int32_t* sh, void* packed_w)
    int qe_qs16_gemm_packed_acc64(const void* packed_w)
    size_t qe_qs16_gemm_scratch_size(const qe_qs16_gemm_kernel* kernel, size_t m, size_t k)
    void qe_qs16_gemm_run(const qe_qs16_gemm_kernel* kernel, size_t m, size_t n, size_t k,
                          const int16_t* a, size_t a_stride, const void* packed_w, void* c,
                          size_t c_stride, int out8, int32_t zo, int32_t qmin, int32_t qmax,
                          void* scratch, int num_threads)

    void qe_qs16_conv2d_setup(qe_conv2d* conv, int isa, int force_generic)
    const char* qe_qs16_conv2d_kernel_name(const qe_conv2d* conv, const void* packed)
    size_t qe_qs16_conv2d_packed_size(const qe_conv2d* conv)
    void qe_qs16_conv2d_pack(const qe_conv2d* conv, const int8_t* w, const int64_t* bias,
                             const int32_t* m0, const int32_t* sh, void* packed)
    int qe_qs16_conv2d_packed_acc64(const qe_conv2d* conv, const void* packed)
    size_t qe_qs16_conv2d_scratch_size(const qe_conv2d* conv, size_t n, size_t h, size_t w,
                                       int num_threads)
    void qe_qs16_conv2d_run(const qe_conv2d* conv, const void* packed, size_t n, size_t h,
                            size_t w, const int16_t* x, void* y, int out8, int32_t zo,
                            int32_t qmin, int32_t qmax, void* scratch, int num_threads)

    ctypedef struct qe_qs16_add_params:
        int32_t ka, kb
        int64_t bias
        int32_t m0, sh, zo, qmin, qmax
    void qe_qs16_add(size_t n, const int16_t* a, const int16_t* b, int16_t* y,
                     const qe_qs16_add_params* p, int num_threads)
    void qe_qs16_add_bcast(size_t ndim, const size_t* shape, const int16_t* a,
                           const size_t* a_strides, const int16_t* b, const size_t* b_strides,
                           int16_t* y, const qe_qs16_add_params* p, int num_threads)
    void qe_qs16_maxpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y, int32_t qmin,
                         int32_t qmax, int num_threads)
    void qe_qs16_avgpool(const qe_pool_geometry* g, const int16_t* x, int16_t* y,
                         const qe_qs8_avgpool_params* p, int num_threads)
    ctypedef struct qe_qs16_gavgpool_params:
        int64_t bias
        int32_t m0, sh, zo, qmin, qmax
    void qe_qs16_gavgpool(size_t n, size_t hw, size_t c, const int16_t* x, int16_t* y,
                          const qe_qs16_gavgpool_params* p, int num_threads)
    void qe_f32_qs16_quantize(size_t n, const float* x, int16_t* y, const qe_f32_qs8_params* p,
                              int num_threads)
    void qe_qs16_f32_dequantize(size_t n, const int16_t* x, float* y,
                                const qe_qs8_f32_params* p, int num_threads)
    ctypedef struct qe_qs16_requant_params:
        int32_t zi, m0, sh, zo, qmin, qmax
    void qe_qs16_requantize(size_t n, const void* x, int in16, void* y, int out16,
                            const qe_qs16_requant_params* p, int num_threads)
    const char* qe_qs16_ops_kernel_name(const char* op)
