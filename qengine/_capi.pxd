# C declarations of csrc/include/qengine.h, shared by every .pxi of the _native module.
from libc.stdint cimport int8_t, int16_t, int32_t, uint8_t, uint16_t, int64_t, uint64_t

cdef extern from "qengine.h" nogil:
    int QE_ISA_COUNT
    const char* qe_isa_name(int isa)
    int qe_isa_compiled(int isa)
    int qe_isa_supported(int isa)
    int qe_isa_best()
    int qe_isa_selected()
    int qe_isa_select(int isa)

    ctypedef struct qe_gemm_kernel:
        pass
    const qe_gemm_kernel* qe_gemm_kernel_for(int isa)
    const char* qe_gemm_kernel_name(const qe_gemm_kernel* kernel)
    void qe_gemm_kernel_tile(const qe_gemm_kernel* kernel, int* mr, int* nr, int* kr)
    size_t qe_gemm_packed_w_size(const qe_gemm_kernel* kernel, size_t n, size_t k)
    void qe_gemm_pack_w(const qe_gemm_kernel* kernel, size_t n, size_t k, const int8_t* w,
                        const int32_t* bias, const int32_t* m0, const int32_t* sh,
                        void* packed_w)
    size_t qe_gemm_scratch_size(const qe_gemm_kernel* kernel, size_t m, size_t k)
    void qe_gemm_run(const qe_gemm_kernel* kernel, size_t m, size_t n, size_t k,
                     const int8_t* a, size_t a_stride, const void* packed_w,
                     int8_t* c, size_t c_stride, int32_t zo, int32_t qmin, int32_t qmax,
                     void* scratch, int num_threads)

cdef extern from "qengine.h" nogil:
    ctypedef void (*qe_step_fn)(const void* op, uint8_t* arena, void* scratch, int num_threads)
    ctypedef struct qe_step:
        qe_step_fn fn
        const void* op
    void qe_plan_run(const qe_step* steps, size_t n, uint8_t* arena, void* scratch,
                     int num_threads, uint64_t* times_ns)
    ctypedef struct qe_fc_op:
        const qe_gemm_kernel* kernel
        const void* packed_w
        size_t m, n, k, in_ "in", out
        int32_t zo, qmin, qmax
    void qe_step_fc(const void* op, uint8_t* arena, void* scratch, int num_threads)
