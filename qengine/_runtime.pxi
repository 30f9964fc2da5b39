# The compiled plan executor (csrc/runtime/). qengine/plan.py builds a Plan once at load
# (one set_<op> call per step, then set_io); Plan.run is the whole per-call path: check the
# inputs, quantize them into the arena, run every step, dequantize the outputs, with the
# GIL released from the first quantize to the last dequantize.
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from qengine._capi_runtime cimport *
from qengine._capi_ops cimport (qe_f32_qs8_params, qe_qs8_f32_params, qe_f32_qs8_quantize,
                                qe_qs8_f32_dequantize)
from qengine._capi_conv cimport qe_conv2d_scratch_size
from qengine._capi_qs16 cimport qe_f32_qs16_quantize, qe_qs16_f32_dequantize

cdef enum:
    MAX_RANK = 8

cdef struct io_slot:
    size_t off, count, nbytes
    int typenum                 # numpy type of the arena value: int8, int16 or float32
    int ndim
    cnp.npy_intp dims[MAX_RANK]
    qe_f32_qs8_params q         # inputs: eq. 17
    qe_qs8_f32_params dq        # outputs: eq. 18


cdef inline uint8_t* _align64(uint8_t* p) noexcept nogil:
    return <uint8_t*>((<size_t>p + 63) & ~(<size_t>63))


_MISSING = object()


def conv_scratch_size(PackedConv2d pc, size_t n, size_t h, size_t w, int num_threads):
    return qe_conv2d_scratch_size(&pc.conv, n, h, w, num_threads)


def spmm_scratch_size(PackedSpmm sp, size_t m):
    cdef uint8_t[::1] buf = sp.packed
    return qe_spmm_scratch_size(&buf[0], m)


def spmm_kb4_scratch_size(PackedSpmmKb4 sp, size_t m):
    cdef uint8_t[::1] buf = sp.packed
    return qe_spmm_kb4_scratch_size(sp.kernel, &buf[0], m)


def concat_scratch_size(size_t n_inputs):
    return qe_concat_scratch_size(n_inputs)


cdef class Plan:
    """An array of C steps plus the graph's inputs and outputs. Each step's op record lives
    in a small uint8 ndarray kept alive here, with every buffer (packed weights, tables)
    the records point into.

    Arena policy: the plan owns one context (arena + scratch + input/output pointers). A
    run() that finds it in use by another thread works in a fresh context of its own,
    freed when the call returns: concurrent calls are correct and never wait."""
    cdef qe_step* steps
    cdef readonly size_t n
    cdef list keep
    cdef readonly list names
    # inputs / outputs
    cdef io_slot* ins
    cdef io_slot* outs
    cdef readonly size_t n_in, n_out
    cdef readonly tuple in_names, out_names
    cdef dict in_index
    cdef tuple in_infos
    # the owned context
    cdef size_t arena_size, scratch_size, ctx_size
    cdef uint8_t* ctx_raw
    cdef bint busy
    cdef readonly int num_threads

    def __cinit__(self, size_t n):
        self.n = n
        self.steps = <qe_step*>PyMem_Malloc(max(n, 1) * sizeof(qe_step))
        if self.steps == NULL:
            raise MemoryError()
        for i in range(n):
            self.steps[i].fn = qe_step_nop
            self.steps[i].op = NULL
        self.keep = []
        self.names = [""] * n

    def __dealloc__(self):
        PyMem_Free(self.steps)
        PyMem_Free(self.ins)
        PyMem_Free(self.outs)
        free(self.ctx_raw)

    cdef void* _record(self, size_t i, size_t size, qe_step_fn fn, str name, object owner):
        buf = np.zeros(size, dtype=np.uint8)
        cdef uint8_t[::1] view = buf
        self.keep.append(buf)
        self.keep.append(owner)
        self.steps[i].fn = fn
        self.steps[i].op = &view[0]
        self.names[i] = name
        return &view[0]

    @property
    def held_bytes(self):
        """Bytes of the buffers the steps point into: packed weights, records, tables."""
        total = 0
        for o in self.keep:
            for a in (o if isinstance(o, tuple) else (o,)):
                if isinstance(a, np.ndarray):
                    total += a.nbytes
                elif hasattr(a, "packed"):
                    total += a.packed.nbytes
        return total

    @property
    def context_bytes(self):
        """Bytes of one run context: arena + scratch + input/output pointers."""
        return self.ctx_size

    def set_nop(self, size_t i, str name):
        self.steps[i].fn = qe_step_nop
        self.steps[i].op = NULL
        self.names[i] = name

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

    def set_conv(self, size_t i, PackedConv2d pc, size_t n, size_t h, size_t w,
                 size_t in_off, size_t out_off, int zo, int qmin, int qmax):
        name = pc.kernel_name if pc.path != "im2col" else "im2col+" + pc.kernel_name
        cdef qe_conv_op* p = <qe_conv_op*>self._record(i, sizeof(qe_conv_op), qe_step_conv2d,
                                                       name, pc)
        cdef uint8_t[::1] buf = pc.packed
        p.conv = pc.conv
        p.packed = &buf[0]
        p.n, p.h, p.w = n, h, w
        p.in_, p.out = in_off, out_off
        p.zo, p.qmin, p.qmax = zo, qmin, qmax

    def set_spmm(self, size_t i, PackedSpmm sp, size_t m, size_t in_off, size_t out_off,
                 int zo, int qmin, int qmax):
        """FullyConnected or 1x1 Conv2D with sparse weights: A [m, K] -> C [m, N]."""
        cdef qe_spmm_op* p = <qe_spmm_op*>self._record(i, sizeof(qe_spmm_op), qe_step_spmm,
                                                       sp.kernel_name, sp)
        cdef uint8_t[::1] buf = sp.packed
        p.kernel = sp.kernel
        p.packed = &buf[0]
        p.m, p.n, p.k = m, sp.n, sp.k
        p.in_, p.out = in_off, out_off
        p.zo, p.qmin, p.qmax = zo, qmin, qmax

    def set_spmm_kb4(self, size_t i, PackedSpmmKb4 sp, size_t m, size_t in_off, size_t out_off,
                     int zo, int qmin, int qmax):
        """FullyConnected or 1x1 Conv2D with 1x4 K-blocked weights: A [m, K] -> C [m, N]."""
        cdef qe_spmm_kb4_op* p = <qe_spmm_kb4_op*>self._record(
            i, sizeof(qe_spmm_kb4_op), qe_step_spmm_kb4, sp.kernel_name, sp)
        cdef uint8_t[::1] buf = sp.packed
        p.kernel = sp.kernel
        p.packed = &buf[0]
        p.m, p.n, p.k = m, sp.n, sp.k
        p.in_, p.out = in_off, out_off
        p.zo, p.qmin, p.qmax = zo, qmin, qmax

    def set_maxpool(self, size_t i, tuple geometry, size_t in_off, size_t out_off, int qmin,
                    int qmax, str name):
        cdef qe_maxpool_op* p = <qe_maxpool_op*>self._record(
            i, sizeof(qe_maxpool_op), qe_step_maxpool, name, None)
        p.g = _geometry(geometry[0], geometry[1], geometry[2], geometry[3], geometry[4])
        p.in_, p.out = in_off, out_off
        p.qmin, p.qmax = qmin, qmax

    def set_avgpool(self, size_t i, tuple geometry, int zi, int zo, int qmin, int qmax,
                    bint count_include_pad, const int32_t[::1] m0, const int32_t[::1] sh,
                    size_t in_off, size_t out_off, str name):
        cdef qe_avgpool_op* p = <qe_avgpool_op*>self._record(
            i, sizeof(qe_avgpool_op), qe_step_avgpool, name, (m0.base, sh.base))
        p.g = _geometry(geometry[0], geometry[1], geometry[2], geometry[3], geometry[4])
        p.params.zi, p.params.zo, p.params.qmin, p.params.qmax = zi, zo, qmin, qmax
        p.params.count_include_pad = count_include_pad
        p.params.m0 = &m0[0]
        p.params.sh = &sh[0]
        p.in_, p.out = in_off, out_off

    def set_gavgpool(self, size_t i, size_t n, size_t hw, size_t c, tuple params,
                     size_t in_off, size_t out_off, str name):
        cdef qe_gavgpool_op* p = <qe_gavgpool_op*>self._record(
            i, sizeof(qe_gavgpool_op), qe_step_gavgpool, name, None)
        p.n, p.hw, p.c = n, hw, c
        (p.params.bias, p.params.m0, p.params.sh, p.params.zo, p.params.qmin,
         p.params.qmax) = params
        p.in_, p.out = in_off, out_off

    def set_eltwise(self, size_t i, str op, tuple shape, tuple a_strides, tuple b_strides,
                    tuple params, size_t a_off, size_t b_off, size_t out_off, str name):
        """op "add": params = (ka, kb, bias, m0, sh, zo, qmin, qmax) (eq. 9);
        "mul": (za, zb, m0, sh, zo, qmin, qmax) (eq. 10)."""
        cdef qe_eltwise_op* p = <qe_eltwise_op*>self._record(
            i, sizeof(qe_eltwise_op), qe_step_add if op == "add" else qe_step_mul, name, None)
        cdef size_t d
        p.ndim = len(shape)
        for d in range(p.ndim):
            p.shape[d], p.a_strides[d], p.b_strides[d] = shape[d], a_strides[d], b_strides[d]
        if op == "add":
            (p.add.ka, p.add.kb, p.add.bias, p.add.m0, p.add.sh, p.add.zo, p.add.qmin,
             p.add.qmax) = params
        else:
            p.mul.za, p.mul.zb, p.mul.m0, p.mul.sh, p.mul.zo, p.mul.qmin, p.mul.qmax = params
        p.a, p.b, p.out = a_off, b_off, out_off

    def set_concat(self, size_t i, size_t pixels, list channels, list tables, list in_offs,
                   size_t out_off, str name):
        """tables[k]: None (plain copy) or the int8 [256] eq. 12 table of input k."""
        cdef size_t k, n_in = len(channels)
        descs = np.zeros(max(n_in, 1) * sizeof(qe_qs8_concat_input), dtype=np.uint8)
        offs = np.zeros(max(n_in, 1) * sizeof(size_t), dtype=np.uint8)
        cdef uint8_t[::1] dv = descs
        cdef uint8_t[::1] ov = offs
        cdef qe_qs8_concat_input* d = <qe_qs8_concat_input*>&dv[0]
        cdef size_t* o = <size_t*>&ov[0]
        cdef const int8_t[::1] tv
        cdef qe_concat_op* p = <qe_concat_op*>self._record(
            i, sizeof(qe_concat_op), qe_step_concat, name, (descs, offs))
        for k in range(n_in):
            d[k].x = NULL
            d[k].channels = channels[k]
            d[k].identity = tables[k] is None
            if tables[k] is not None:
                tv = tables[k]
                memcpy(d[k].table, &tv[0], 256)
            o[k] = in_offs[k]
        p.pixels, p.n_inputs = pixels, n_in
        p.inputs, p.in_, p.out = d, o, out_off

    def set_lut(self, size_t i, size_t n, const int8_t[::1] table, size_t in_off,
                size_t out_off, str name):
        cdef qe_lut_op* p = <qe_lut_op*>self._record(i, sizeof(qe_lut_op), qe_step_lut,
                                                     name, None)
        p.n, p.in_, p.out = n, in_off, out_off
        memcpy(p.table, &table[0], 256)

    def set_softmax(self, size_t i, size_t rows, size_t n, const uint32_t[::1] table,
                    bint int8_out, size_t in_off, size_t out_off, str name):
        cdef qe_softmax_op* p = <qe_softmax_op*>self._record(
            i, sizeof(qe_softmax_op), qe_step_softmax, name, None)
        p.rows, p.n, p.in_, p.out, p.int8_out = rows, n, in_off, out_off, int8_out
        memcpy(p.table, &table[0], 256 * sizeof(uint32_t))

    # ---- inputs, outputs, context ----------------------------------------------------
    def set_io(self, list inputs, list outputs, dict offsets, size_t arena_size,
               size_t scratch_size, int num_threads):
        """inputs/outputs: TensorInfo lists (int8/int16 inputs; int8, int16 or float32 outputs, checked
        by qengine.graph); quantization parameters from qengine.quant."""
        from qengine import quant as Q
        self.n_in, self.n_out = len(inputs), len(outputs)
        self.ins = <io_slot*>PyMem_Malloc(max(self.n_in, 1) * sizeof(io_slot))
        self.outs = <io_slot*>PyMem_Malloc(max(self.n_out, 1) * sizeof(io_slot))
        if self.ins == NULL or self.outs == NULL:
            raise MemoryError()
        for k, info in enumerate(inputs):
            _fill_slot(&self.ins[k], info, offsets[info.name])
            self.ins[k].q.inv_scale = Q.quantize_params(info.scale)
            self.ins[k].q.zp = info.zero_point
        for k, info in enumerate(outputs):
            _fill_slot(&self.outs[k], info, offsets[info.name])
            self.outs[k].dq.scale = _f32_scale(info.scale)
            self.outs[k].dq.zp = info.zero_point
        self.in_infos = tuple(inputs)
        self.in_names = tuple(i.name for i in inputs)
        self.out_names = tuple(o.name for o in outputs)
        self.in_index = {name: k for k, name in enumerate(self.in_names)}
        self.num_threads = num_threads
        # one block: arena | scratch | input and output pointers, 64-byte aligned parts
        self.arena_size = (arena_size + 63) // 64 * 64
        self.scratch_size = (scratch_size + 63) // 64 * 64
        self.ctx_size = (self.arena_size + self.scratch_size + 64 +
                         (self.n_in + self.n_out + 1) * sizeof(void*))
        self.ctx_raw = <uint8_t*>malloc(self.ctx_size)
        if self.ctx_raw == NULL:
            raise MemoryError()

    cdef object _check(self, size_t k, object x, bint raw):
        """x as an aligned C-contiguous native array of the right dtype and shape, else
        ValueError saying what was expected."""
        info = self.in_infos[k]
        if not cnp.PyArray_Check(x):
            raise ValueError(f"input {info.name!r} must be a numpy array, got "
                             f"{type(x).__name__}")
        cdef cnp.ndarray a = <cnp.ndarray>x
        cdef io_slot* s = &self.ins[k]
        cdef int want = s.typenum if raw else cnp.NPY_FLOAT32
        cdef int d
        if cnp.PyArray_TYPE(a) != want:
            kind = f"{info.dtype} (quantized, raw=True)" if raw else "float32 (float)"
            raise ValueError(f"input {info.name!r} must be {kind}, got {(<object>a).dtype}")
        cdef bint ok = cnp.PyArray_NDIM(a) == s.ndim
        if ok:
            for d in range(s.ndim):
                if cnp.PyArray_DIMS(a)[d] != s.dims[d]:
                    ok = False
        if not ok:
            raise ValueError(f"input {info.name!r} must have shape {tuple(info.shape)}, "
                             f"got {(<object>a).shape}")
        if not (cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_ISNOTSWAPPED(a)):
            a = np.ascontiguousarray(a, dtype=(<object>a).dtype.newbyteorder("="))
        return a

    def run(self, x, bint raw=False):
        """Run once: x an array (one input) or a dict name -> array; returns an array, a
        list of arrays (several outputs), or a dict (dict in)."""
        return self._execute(x, raw, NULL)

    def run_timed(self, x, bint raw, uint64_t[::1] times):
        """As run(), and each step's wall time in ns into times[:n]."""
        if <size_t>times.shape[0] < self.n:
            raise ValueError("times is too short")
        cdef uint64_t dummy = 0
        return self._execute(x, raw, &times[0] if self.n else &dummy)

    cdef object _execute(self, object x, bint raw, uint64_t* times):
        cdef size_t k
        cdef bint as_dict = isinstance(x, dict)
        cdef list feeds
        # 1. inputs (with the GIL: only checks, no copies unless x is not C-contiguous)
        if as_dict:
            feeds = []
            for k in range(self.n_in):
                v = (<dict>x).get(self.in_names[k], _MISSING)
                if v is _MISSING:
                    break
                feeds.append(self._check(k, v, raw))
            if len(feeds) != self.n_in or len(<dict>x) != self.n_in:
                names = set(self.in_names)
                raise ValueError(f"inputs {sorted(set(x) - names)} are not model inputs and "
                                 f"{sorted(names - set(x))} are missing; the model takes "
                                 f"{list(self.in_names)}")
        else:
            if self.n_in != 1:
                raise ValueError(f"the model has {self.n_in} inputs {list(self.in_names)}: "
                                 f"pass a dict")
            feeds = [self._check(0, x, raw)]
        # 2. outputs, allocated before the GIL is released
        cdef list results = []
        cdef io_slot* s
        for k in range(self.n_out):
            s = &self.outs[k]
            results.append(cnp.PyArray_EMPTY(
                s.ndim, s.dims, s.typenum if raw else cnp.NPY_FLOAT32, 0))
        # 3. a context: the plan's own, or a fresh one if another thread is using it
        cdef bint own = not self.busy
        cdef uint8_t* raw_ctx = self.ctx_raw
        if own:
            self.busy = True
        else:
            raw_ctx = <uint8_t*>malloc(self.ctx_size)
            if raw_ctx == NULL:
                raise MemoryError()
        cdef uint8_t* arena = _align64(raw_ctx)
        cdef uint8_t* scratch = arena + self.arena_size
        cdef void** ptrs = <void**>(scratch + self.scratch_size)
        for k in range(self.n_in):
            ptrs[k] = cnp.PyArray_DATA(<cnp.ndarray>feeds[k])
        for k in range(self.n_out):
            ptrs[self.n_in + k] = cnp.PyArray_DATA(<cnp.ndarray>results[k])
        try:
            with nogil:
                _run_context(self, arena, scratch, ptrs, raw, times)
        finally:
            if own:
                self.busy = False
            else:
                free(raw_ctx)
        cdef dict out
        if as_dict:
            out = {}
            for k in range(self.n_out):
                out[self.out_names[k]] = results[k]
            return out
        return results[0] if self.n_out == 1 else results


cdef void _run_context(Plan self, uint8_t* arena, uint8_t* scratch, void** ptrs, bint raw,
                       uint64_t* times) noexcept nogil:
    cdef size_t k
    cdef io_slot* s
    cdef int nt = self.num_threads
    for k in range(self.n_in):
        s = &self.ins[k]
        if raw:
            memcpy(arena + s.off, ptrs[k], s.nbytes)
        elif s.count and s.typenum == cnp.NPY_INT16:
            qe_f32_qs16_quantize(s.count, <const float*>ptrs[k], <int16_t*>(arena + s.off),
                                 &s.q, nt)
        elif s.count:
            qe_f32_qs8_quantize(s.count, <const float*>ptrs[k], <int8_t*>(arena + s.off),
                                &s.q, nt)
    qe_plan_run(self.steps, self.n, arena, scratch, nt, times)
    for k in range(self.n_out):
        s = &self.outs[k]
        if raw or s.typenum == cnp.NPY_FLOAT32:
            memcpy(ptrs[self.n_in + k], arena + s.off, s.nbytes)
        elif s.count and s.typenum == cnp.NPY_INT16:
            qe_qs16_f32_dequantize(s.count, <const int16_t*>(arena + s.off),
                                   <float*>ptrs[self.n_in + k], &s.dq, nt)
        elif s.count:
            qe_qs8_f32_dequantize(s.count, <const int8_t*>(arena + s.off),
                                  <float*>ptrs[self.n_in + k], &s.dq, nt)


cdef _fill_slot(io_slot* s, info, size_t off):
    if len(info.shape) > MAX_RANK:
        raise ValueError(f"{info.name!r}: rank above {MAX_RANK}")
    s.off = off
    s.count = info.size
    s.typenum = {"int8": cnp.NPY_INT8, "int16": cnp.NPY_INT16}.get(info.dtype,
                                                                  cnp.NPY_FLOAT32)
    s.nbytes = s.count * {"int8": 1, "int16": 2}.get(info.dtype, 4)
    s.ndim = len(info.shape)
    for d in range(s.ndim):
        s.dims[d] = info.shape[d]


cdef float _f32_scale(double scale) except? -1:
    from qengine import quant as Q
    with np.errstate(over="ignore"):
        s = np.float32(Q._scale("scale", scale))
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny):
        raise ValueError(f"scale {scale!r} is not a finite normal float32")
    return s
