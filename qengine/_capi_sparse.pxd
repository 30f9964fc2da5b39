# C declarations of csrc/include/qengine_sparse.h (sparse matmul, csrc/sparse/).
from libc.stdint cimport int8_t, int32_t

cdef extern from "qengine.h" nogil:
    ctypedef struct qe_spmm_kernel:
        pass
    const qe_spmm_kernel* qe_spmm_kernel_for(int isa)
    const char* qe_spmm_kernel_name(const qe_spmm_kernel* kernel, int br)
    size_t qe_spmm_packed_size(size_t n, size_t k, int br, size_t nblocks)
    void qe_spmm_pack(size_t n, size_t k, int br, const int32_t* ptr, const void* idx,
                      int idx_bytes, const int8_t* values, const int32_t* bias,
                      const int32_t* m0, const int32_t* sh, void* packed)
    size_t qe_spmm_scratch_size(const void* packed, size_t m)
    void qe_spmm_run(const qe_spmm_kernel* kernel, const void* packed, size_t m,
                     const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                     int32_t zo, int32_t qmin, int32_t qmax, void* scratch, int num_threads)
    ctypedef struct qe_spmm_kb4_kernel:
        pass
    const qe_spmm_kb4_kernel* qe_spmm_kb4_kernel_for(int isa)
    const char* qe_spmm_kb4_kernel_name(const qe_spmm_kb4_kernel* kernel)
    size_t qe_spmm_kb4_packed_size(size_t n, size_t k, size_t nblocks)
    void qe_spmm_kb4_pack(size_t n, size_t k, const int32_t* ptr, const void* kidx,
                          int idx_bytes, const int8_t* values, const int32_t* bias,
                          const int32_t* m0, const int32_t* sh, void* packed)
    enum: QE_KB4_MV_MAX_M
    size_t qe_spmm_kb4_mv_size(size_t n, size_t k, const int32_t* ptr, const void* kidx,
                               int idx_bytes)
    void qe_spmm_kb4_pack_mv(void* packed)
    size_t qe_spmm_kb4_scratch_size(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                    size_t m)
    void qe_spmm_kb4_run(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                         const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                         int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                         int num_threads)
    size_t qe_spmm_kb4_scratch_size_c4(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                       size_t m, int num_threads)
    size_t qe_spmm_kb4_scratch_size_cm(const qe_spmm_kb4_kernel* kernel, const void* packed,
                                       size_t m, int num_threads)
    void qe_spmm_kb4_run_c4(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                            const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                            int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                            int num_threads)
    void qe_spmm_kb4_run_cm(const qe_spmm_kb4_kernel* kernel, const void* packed, size_t m,
                            const int8_t* a, size_t a_stride, int8_t* c, size_t c_stride,
                            int32_t zo, int32_t qmin, int32_t qmax, void* scratch,
                            int num_threads)
