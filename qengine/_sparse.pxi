# Sparse int8 matmul (csrc/sparse/, docs/SPARSE.md).
from qengine._capi_sparse cimport *

KB4_MV_MAX_M = QE_KB4_MV_MAX_M  # fewer rows than this run the matrix-vector path


cdef class PackedSpmm:
    """Sparse weights W [N, K] in blocks of `block` (1: CSR, 4: 4x1 BSR) output channels,
    packed once with bias, m0, sh. run() computes requant(bias + A @ W.T) for int8
    A [M, K], bit-identical to the dense GEMM of the same weights (DESIGN.md section 3).

    The arguments must already be validated (qengine/_kernels_sparse.py does it)."""
    cdef const qe_spmm_kernel* kernel
    cdef readonly object packed      # uint8 ndarray: the packed blob (ISA-neutral)
    cdef readonly size_t n, k, nblocks
    cdef readonly int block
    cdef readonly str isa
    cdef ScratchCache _scratch

    def __cinit__(self, const int32_t[::1] ptr, const uint8_t[::1] idx, int idx_bytes,
                  const int8_t[::1] values, size_t n, size_t k, int block,
                  const int32_t[::1] bias, const int32_t[::1] m0, const int32_t[::1] sh,
                  str isa):
        self.isa = isa
        self._scratch = ScratchCache()
        self.kernel = qe_spmm_kernel_for(isa_names().index(isa))
        self.n, self.k, self.block = n, k, block
        self.nblocks = idx.shape[0] // idx_bytes
        size = qe_spmm_packed_size(n, k, block, self.nblocks)
        self.packed = np.empty(size, dtype=np.uint8)
        cdef uint8_t[::1] buf = self.packed
        qe_spmm_pack(n, k, block, &ptr[0], &idx[0] if self.nblocks else NULL, idx_bytes,
                     &values[0] if self.nblocks else NULL, &bias[0] if n else NULL,
                     &m0[0] if n else NULL, &sh[0] if n else NULL, &buf[0])

    @property
    def kernel_name(self):
        return qe_spmm_kernel_name(self.kernel, self.block).decode()

    @property
    def npairs(self):
        """Packed pairs of blocks (docs/SPARSE.md cost model: the P of c_pair)."""
        return int(np.frombuffer(self.packed[24:32].tobytes(), np.uint64)[0])

    @property
    def nbytes(self):
        return self.packed.nbytes

    def run(self, a, int zo, int qmin, int qmax, int num_threads, out=None):
        """int8 [M, N]; `out`, if given, is a C-contiguous int8 [M, N] array written in place."""
        cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(int8_in(a, 2, "[M, K]"))
        if <size_t>shape[1] != self.k:
            raise ValueError(f"a has K={shape[1]} columns, the sparse weights K={self.k}")
        check_requant_out(zo, qmin, qmax, num_threads)
        cdef size_t m = shape[0]
        out = int8_out(out, (m, self.n))
        if m == 0 or self.n == 0:
            return out
        cdef const uint8_t* w = <const uint8_t*>array_data(self.packed)
        need = qe_spmm_scratch_size(w, m) + 1
        scratch = self._scratch.take(need)
        cdef uint8_t* s = <uint8_t*>array_data(scratch)
        cdef int8_t* c = <int8_t*>array_data(out)
        cdef const int8_t* ap = <const int8_t*>array_data(a)
        with nogil:
            qe_spmm_run(self.kernel, w, m, ap, self.k, c, self.n, zo, qmin, qmax, s,
                        num_threads)
        self._scratch.give(scratch)
        return out


cdef class PackedSpmmKb4:
    """Sparse weights W [N, K] in the K-blocked 1x4 format (blocks of 4 consecutive input
    channels of one output channel), packed once with bias, m0, sh. run() is bit-identical
    to the dense GEMM of the same weights. Arguments must already be validated
    (qengine/_kernels_sparse.py)."""
    cdef const qe_spmm_kb4_kernel* kernel
    cdef readonly object packed
    cdef readonly size_t n, k, nblocks
    cdef readonly str isa
    cdef ScratchCache _scratch

    def __cinit__(self, const int32_t[::1] ptr, const uint8_t[::1] idx, int idx_bytes,
                  const int8_t[::1] values, size_t n, size_t k,
                  const int32_t[::1] bias, const int32_t[::1] m0, const int32_t[::1] sh,
                  str isa, bint mv=True):
        self.isa = isa
        self._scratch = ScratchCache()
        self.kernel = qe_spmm_kb4_kernel_for(isa_names().index(isa))
        self.n, self.k = n, k
        self.nblocks = idx.shape[0] // idx_bytes
        cdef const void* kidx = &idx[0] if self.nblocks else NULL
        size = qe_spmm_kb4_packed_size(n, k, self.nblocks)
        # the matrix-vector section: only where a batch-1 (M < 4) call will read it
        mv_size = qe_spmm_kb4_mv_size(n, k, &ptr[0], kidx, idx_bytes) if mv and n else 0
        self.packed = np.empty(size + mv_size, dtype=np.uint8)
        cdef uint8_t[::1] buf = self.packed
        qe_spmm_kb4_pack(n, k, &ptr[0], kidx, idx_bytes,
                         &values[0] if self.nblocks else NULL, &bias[0] if n else NULL,
                         &m0[0] if n else NULL, &sh[0] if n else NULL, &buf[0])
        if mv_size:
            qe_spmm_kb4_pack_mv(&buf[0])

    @property
    def kernel_name(self):
        return qe_spmm_kb4_kernel_name(self.kernel).decode()

    @property
    def block(self):
        return "1x4"

    @property
    def nbytes(self):
        return self.packed.nbytes

    def run(self, a, int zo, int qmin, int qmax, int num_threads, out=None):
        """int8 [M, N]; `out`, if given, is a C-contiguous int8 [M, N] array written in place."""
        cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(int8_in(a, 2, "[M, K]"))
        if <size_t>shape[1] != self.k:
            raise ValueError(f"a has K={shape[1]} columns, the sparse weights K={self.k}")
        return self._run(a, shape[0], zo, qmin, qmax, num_threads, out, False)

    def run_channel_major(self, a, int zo, int qmin, int qmax, int num_threads, out=None):
        """The same product in the channel-major (NCHW) layout: a is A^T, int8 [K, M]
        (input channel by position), the result C^T, int8 [N, M]; `out`, if given, a
        C-contiguous int8 [N, M] array written in place. Bit-identical to run(a.T).T."""
        cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(int8_in(a, 2, "[K, M]"))
        if <size_t>shape[0] != self.k:
            raise ValueError(f"a has K={shape[0]} rows (channel-major [K, M]), the sparse "
                             f"weights K={self.k}")
        return self._run(a, shape[1], zo, qmin, qmax, num_threads, out, True)

    def run_blocked(self, a, int zo, int qmin, int qmax, int num_threads, out=None):
        """The same product in the blocked layout (docs/SPARSE.md): a is int8
        [ceil(K/4), M, 4], input channel 4 kb + j at position m in a[kb, m, j] (channels
        past K: any value); the result int8 [ceil(N/4), M, 4], channels past N 0; `out`,
        if given, a C-contiguous int8 array of that shape written in place. Kernels with a
        blocked kernel read `a` in place: no activation packing. Bit-identical to run()."""
        cdef size_t kb = (self.k + 3) // 4, nb = (self.n + 3) // 4
        cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(int8_in(a, 3, "[ceil(K/4), M, 4]"))
        if <size_t>shape[0] != kb or shape[2] != 4:
            raise ValueError(f"a must be blocked [ceil(K/4), M, 4] = [{kb}, M, 4] for the "
                             f"sparse weights K={self.k}, got shape {a.shape}")
        check_requant_out(zo, qmin, qmax, num_threads)
        cdef size_t m = shape[1]
        out = int8_out(out, (nb, m, 4))
        if m == 0 or nb == 0:
            return out
        cdef const int8_t* ap = <const int8_t*>array_data(a)
        cdef const uint8_t* w = <const uint8_t*>array_data(self.packed)
        need = qe_spmm_kb4_scratch_size_c4(self.kernel, w, m, num_threads) + 1
        scratch = self._scratch.take(need)
        cdef uint8_t* s = <uint8_t*>array_data(scratch)
        cdef int8_t* c = <int8_t*>array_data(out)
        with nogil:
            qe_spmm_kb4_run_c4(self.kernel, w, m, ap, 4 * m, c, 4 * m, zo, qmin, qmax,
                               s, num_threads)
        self._scratch.give(scratch)
        return out

    cdef _run(self, a, size_t m, int zo, int qmin, int qmax,
              int num_threads, out, bint channel_major):
        check_requant_out(zo, qmin, qmax, num_threads)
        out = int8_out(out, (self.n, m) if channel_major else (m, self.n))
        if m == 0 or self.n == 0:
            return out
        cdef const uint8_t* w = <const uint8_t*>array_data(self.packed)
        need = (qe_spmm_kb4_scratch_size_cm(self.kernel, w, m, num_threads) if channel_major
                else qe_spmm_kb4_scratch_size(self.kernel, w, m)) + 1
        scratch = self._scratch.take(need)
        cdef uint8_t* s = <uint8_t*>array_data(scratch)
        cdef int8_t* c = <int8_t*>array_data(out)
        cdef const int8_t* ap = <const int8_t*>array_data(a)
        with nogil:
            if channel_major:
                qe_spmm_kb4_run_cm(self.kernel, w, m, ap, m, c, m, zo, qmin, qmax, s,
                                   num_threads)
            else:
                qe_spmm_kb4_run(self.kernel, w, m, ap, self.k, c, self.n, zo, qmin, qmax, s,
                                num_threads)
        self._scratch.give(scratch)
        return out
