# int16 activations x int8 weights (csrc/qs16/). Called only from qengine/_kernels_qs16.py,
# which validates every argument first.
from qengine._capi_qs16 cimport *


cdef class PackedGemm16:
    """Weights W [N, K] packed once for the 16x8 GEMM of one ISA variant, with int64 bias,
    m0, sh. The accumulator width (int32 or int64, eq. 21) is decided here, from the
    weights and bias; run() computes requant(bias + A @ W.T) for int16 A [M, K]."""
    cdef const qe_qs16_gemm_kernel* kernel
    cdef readonly object packed
    cdef readonly size_t n, k
    cdef readonly str isa

    def __cinit__(self, const int8_t[:, ::1] w, const int64_t[::1] bias,
                  const int32_t[::1] m0, const int32_t[::1] sh, str isa):
        self.isa = isa
        self.kernel = qe_qs16_gemm_kernel_for(isa_names().index(isa))
        self.n = w.shape[0]
        self.k = w.shape[1]
        size = qe_qs16_gemm_packed_w_size(self.kernel, self.n, self.k)
        raw = np.zeros(size + 64, dtype=np.uint8)
        start = (-raw.ctypes.data) % 64
        self.packed = raw[start:start + size]
        cdef uint8_t[::1] buf = self.packed
        cdef int8_t zero = 0
        if self.n:
            qe_qs16_gemm_pack_w(self.kernel, self.n, self.k, &w[0, 0] if self.k else &zero,
                                &bias[0], &m0[0], &sh[0], &buf[0])

    @property
    def acc64(self):
        """True when eq. 21 requires int64 accumulators for these weights and bias."""
        cdef uint8_t[::1] buf = self.packed
        return bool(qe_qs16_gemm_packed_acc64(&buf[0]))

    @property
    def kernel_name(self):
        return qe_qs16_gemm_kernel_name(self.kernel, self.acc64).decode()

    @property
    def tile(self):
        cdef int mr, nr, kr
        qe_qs16_gemm_kernel_tile(self.kernel, &mr, &nr, &kr)
        return mr, nr, kr

    def run(self, const int16_t[:, ::1] a, bint out8, int zo, int qmin, int qmax,
            int num_threads):
        if <size_t>a.shape[1] != self.k:
            raise ValueError(f"a has K={a.shape[1]} columns, the packed weights K={self.k}")
        cdef size_t m = a.shape[0]
        out = np.empty((m, self.n), dtype=np.int8 if out8 else np.int16)
        if m == 0 or self.n == 0:
            return out
        scratch = np.empty(qe_qs16_gemm_scratch_size(self.kernel, m, self.k) + 1, np.uint8)
        cdef uint8_t[::1] s = scratch
        cdef uint8_t[::1] w = self.packed
        cdef cnp.ndarray c = out
        cdef void* cp = cnp.PyArray_DATA(c)
        cdef int16_t zero = 0
        cdef const int16_t* ap = &a[0, 0] if self.k else &zero
        with nogil:
            qe_qs16_gemm_run(self.kernel, m, self.n, self.k, ap, self.k, &w[0], cp,
                             self.n, out8, zo, qmin, qmax, &s[0], num_threads)
        return out
