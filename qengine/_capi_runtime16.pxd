# C declarations of csrc/include/qengine_steps16.h (int16-activation step adapters).
from libc.stdint cimport int32_t, uint8_t
from qengine._capi_conv cimport qe_conv2d
from qengine._capi_qs16 cimport (qe_qs16_gemm_kernel, qe_qs16_add_params,
                                 qe_qs16_gavgpool_params, qe_qs16_requant_params)

cdef extern from "qengine.h" nogil:
    ctypedef struct qe_fc16_op:
        const qe_qs16_gemm_kernel* kernel
        const void* packed_w
        size_t m, n, k
        size_t in_ "in", out
        int out8
        int32_t zo, qmin, qmax
    void qe_step_fc16(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_conv16_op:
        qe_conv2d conv
        const void* packed
        size_t n, h, w
        size_t in_ "in", out
        int out8
        int32_t zo, qmin, qmax
    void qe_step_conv2d16(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_add16_op:
        size_t ndim
        size_t shape[6]
        size_t a_strides[6]
        size_t b_strides[6]
        qe_qs16_add_params params
        size_t a, b, out
    void qe_step_add16(const void* op, uint8_t* arena, void* scratch, int num_threads)

    void qe_step_maxpool16(const void* op, uint8_t* arena, void* scratch, int num_threads)
    void qe_step_avgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_gavgpool16_op:
        size_t n, hw, c
        qe_qs16_gavgpool_params params
        size_t in_ "in", out
    void qe_step_gavgpool16(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_requant16_op:
        size_t n
        int in16, out16
        qe_qs16_requant_params params
        size_t in_ "in", out
    void qe_step_requant16(const void* op, uint8_t* arena, void* scratch, int num_threads)
