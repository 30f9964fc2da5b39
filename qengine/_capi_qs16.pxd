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
