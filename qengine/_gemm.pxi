# Quantized GEMM (csrc/gemm/).

cdef class PackedGemm:
    """Weights W [N, K] packed once for the kernel of one ISA variant, with bias, m0, sh.

    run() computes requant(bias + A @ W.T) for int8 A [M, K] (DESIGN.md section 3)."""
    cdef const qe_gemm_kernel* kernel
    cdef readonly object packed      # uint8 ndarray: the packed blob
    cdef readonly size_t n, k
    cdef readonly str isa
    cdef ScratchCache _scratch

    def __cinit__(self, const int8_t[:, ::1] w, const int32_t[::1] bias,
                  const int32_t[::1] m0, const int32_t[::1] sh, str isa):
        self.isa = isa
        self._scratch = ScratchCache()
        self.kernel = qe_gemm_kernel_for(isa_names().index(isa))
        self.n = w.shape[0]
        self.k = w.shape[1]
        size = qe_gemm_packed_w_size(self.kernel, self.n, self.k)
        # aligned: a panel load that straddles two lines costs double (2x on 1024^3, VNNI)
        self.packed = aligned_bytes(size)
        cdef uint8_t[::1] buf = self.packed
        if self.n:
            qe_gemm_pack_w(self.kernel, self.n, self.k, &w[0, 0] if self.k else NULL,
                           &bias[0], &m0[0], &sh[0], &buf[0])

    @property
    def kernel_name(self):
        return qe_gemm_kernel_name(self.kernel).decode()

    @property
    def tile(self):
        cdef int mr, nr, kr
        qe_gemm_kernel_tile(self.kernel, &mr, &nr, &kr)
        return mr, nr, kr

    def scratch_size(self, size_t m):
        return qe_gemm_scratch_size(self.kernel, m, self.k)

    def run(self, const int8_t[:, ::1] a, int zo, int qmin, int qmax, int num_threads):
        if <size_t>a.shape[1] != self.k:
            raise ValueError(f"a has K={a.shape[1]} columns, the packed weights K={self.k}")
        check_requant_out(zo, qmin, qmax, num_threads)
        cdef size_t m = a.shape[0]
        out = new_output((m, self.n), cnp.NPY_INT8)
        if m == 0 or self.n == 0:
            return out
        need = qe_gemm_scratch_size(self.kernel, m, self.k) + 1
        scratch = self._scratch.take(need)
        cdef uint8_t* s = <uint8_t*>array_data(scratch)
        cdef int8_t* c = <int8_t*>array_data(out)
        cdef const uint8_t* w = <const uint8_t*>array_data(self.packed)
        cdef int8_t zero = 0
        cdef const int8_t* ap = &a[0, 0] if self.k else &zero
        with nogil:
            qe_gemm_run(self.kernel, m, self.n, self.k, ap, self.k, w, c, self.n, zo, qmin,
                        qmax, s, num_threads)
        self._scratch.give(scratch)
        return out
