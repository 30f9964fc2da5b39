# The compiled plan executor (csrc/runtime/plan.c). qengine/plan.py builds a Plan once at
# load; Plan.run is one call into C with the GIL released.

cdef class Plan:
    """An array of C steps. Each step's op record lives in a small uint8 ndarray kept
    alive here, together with every buffer (packed weights) the records point into."""
    cdef qe_step* steps
    cdef readonly size_t n
    cdef list keep
    cdef readonly list names

    def __cinit__(self, size_t n):
        self.n = n
        self.steps = <qe_step*>PyMem_Malloc(max(n, 1) * sizeof(qe_step))
        if self.steps == NULL:
            raise MemoryError()
        self.keep = []
        self.names = [None] * n

    def __dealloc__(self):
        PyMem_Free(self.steps)

    cdef void* _record(self, size_t i, size_t size, qe_step_fn fn, str name, object owner):
        buf = np.zeros(size, dtype=np.uint8)
        cdef uint8_t[::1] view = buf
        self.keep.append(buf)
        self.keep.append(owner)
        self.steps[i].fn = fn
        self.steps[i].op = &view[0]
        self.names[i] = name
        return &view[0]

    def set_fc(self, size_t i, PackedGemm g, size_t m, size_t in_off, size_t out_off,
               int zo, int qmin, int qmax):
        cdef qe_fc_op* p = <qe_fc_op*>self._record(i, sizeof(qe_fc_op), qe_step_fc,
                                                   g.kernel_name, g)
        cdef uint8_t[::1] w = g.packed
        p.kernel = g.kernel
        p.packed_w = &w[0] if w.shape[0] else NULL
        p.m, p.n, p.k = m, g.n, g.k
        p.in_, p.out = in_off, out_off
        p.zo, p.qmin, p.qmax = zo, qmin, qmax

    def run(self, uint8_t[::1] arena, uint8_t[::1] scratch, int num_threads):
        with nogil:
            qe_plan_run(self.steps, self.n, &arena[0], &scratch[0], num_threads, NULL)

    def profile(self, uint8_t[::1] arena, uint8_t[::1] scratch, int num_threads):
        times = np.zeros(max(self.n, 1), dtype=np.uint64)
        cdef uint64_t[::1] t = times
        with nogil:
            qe_plan_run(self.steps, self.n, &arena[0], &scratch[0], num_threads, &t[0])
        return times[:self.n]
