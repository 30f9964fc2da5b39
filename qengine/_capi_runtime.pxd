# C declarations of csrc/include/qengine_steps.h (the executor's step adapters).
from libc.stdint cimport int8_t, int32_t, uint8_t, uint32_t
from qengine._capi_conv cimport qe_conv2d
from qengine._capi_sparse cimport qe_spmm_kernel, qe_spmm_kb4_kernel
from qengine._capi_ops cimport (qe_pool_geometry, qe_qs8_avgpool_params,
                                qe_qs8_gavgpool_params, qe_qs8_add_params,
                                qe_qs8_mul_params, qe_qs8_concat_input)

cdef extern from "qengine.h" nogil:
    ctypedef struct qe_conv_op:
        qe_conv2d conv
        const void* packed
        size_t n, h, w
        size_t in_ "in", out
        int32_t zo, qmin, qmax
    void qe_step_conv2d(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_spmm_op:
        const qe_spmm_kernel* kernel
        const void* packed
        size_t m, n, k
        size_t in_ "in", out
        int32_t zo, qmin, qmax
    void qe_step_spmm(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_spmm_kb4_op:
        const qe_spmm_kb4_kernel* kernel
        const void* packed
        size_t m, n, k
        size_t in_ "in", out
        int32_t zo, qmin, qmax
    void qe_step_spmm_kb4(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_maxpool_op:
        qe_pool_geometry g
        size_t in_ "in", out
        int32_t qmin, qmax
    void qe_step_maxpool(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_avgpool_op:
        qe_pool_geometry g
        qe_qs8_avgpool_params params
        size_t in_ "in", out
    void qe_step_avgpool(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_gavgpool_op:
        size_t n, hw, c
        qe_qs8_gavgpool_params params
        size_t in_ "in", out
    void qe_step_gavgpool(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_eltwise_op:
        size_t ndim
        size_t shape[6]
        size_t a_strides[6]
        size_t b_strides[6]
        size_t a, b, out
        qe_qs8_add_params add
        qe_qs8_mul_params mul
    void qe_step_add(const void* op, uint8_t* arena, void* scratch, int num_threads)
    void qe_step_mul(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_concat_op:
        size_t pixels, n_inputs
        const qe_qs8_concat_input* inputs
        const size_t* in_ "in"
        size_t out
    size_t qe_concat_scratch_size(size_t n_inputs)
    void qe_step_concat(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_lut_op:
        size_t n
        size_t in_ "in", out
        int8_t table[256]
    void qe_step_lut(const void* op, uint8_t* arena, void* scratch, int num_threads)

    ctypedef struct qe_softmax_op:
        size_t rows, n
        size_t in_ "in", out
        int int8_out
        uint32_t table[256]
    void qe_step_softmax(const void* op, uint8_t* arena, void* scratch, int num_threads)

    void qe_step_nop(const void* op, uint8_t* arena, void* scratch, int num_threads)
