# ISA variants: names, availability, selection (csrc/common/isa.c).

def isa_names():
    """Names of all variants qengine knows, in enum order."""
    return [qe_isa_name(i).decode() for i in range(QE_ISA_COUNT)]


def isa_compiled():
    return [qe_isa_name(i).decode() for i in range(QE_ISA_COUNT) if qe_isa_compiled(i)]


def isa_available():
    return [qe_isa_name(i).decode() for i in range(QE_ISA_COUNT) if qe_isa_supported(i)]


def isa_selected():
    return qe_isa_name(qe_isa_selected()).decode()


def isa_best():
    return qe_isa_name(qe_isa_best()).decode()


def isa_select(str name):
    """Select a variant by name; ValueError if unknown or this CPU cannot run it."""
    names = isa_names()
    if name not in names:
        raise ValueError(f"unknown ISA variant {name!r}; qengine knows {names}")
    if qe_isa_select(names.index(name)) != 0:
        why = "was not compiled into this build" if not qe_isa_compiled(names.index(name)) \
            else "is not supported by this CPU"
        raise ValueError(f"ISA variant {name!r} {why}; available here: {isa_available()}")


cdef inline void* array_data(object arr):
    """The data pointer of an ndarray this module made or already checked (C-contiguous, of
    the right dtype): cheaper per call than a typed memoryview."""
    return cnp.PyArray_DATA(<cnp.ndarray>arr)


cdef object aligned_array(int nd, cnp.npy_intp* dims, int typenum, size_t nbytes,
                          bint zero=False):
    """An array of `dims` (nbytes in all) starting on a 64-byte boundary (a cache line):
    SIMD kernels load and store whole lines, and an access that straddles two lines costs
    up to double; numpy only aligns to 16 bytes. A view into a buffer 64 bytes larger, made
    through numpy's C API (Python slicing, view and reshape cost ~1 us a call: b8_expand_14
    at 95% runs in ~6 us)."""
    cdef cnp.npy_intp raw_len = <cnp.npy_intp>(nbytes + 64)
    raw = cnp.PyArray_ZEROS(1, &raw_len, cnp.NPY_UINT8, 0) if zero else \
        cnp.PyArray_EMPTY(1, &raw_len, cnp.NPY_UINT8, 0)
    cdef char* data = <char*>cnp.PyArray_DATA(<cnp.ndarray>raw)
    data += (64 - (<size_t>data) % 64) % 64
    out = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, data)
    cnp.set_array_base(<cnp.ndarray>out, raw)
    return out


cdef object aligned_bytes(size_t nbytes, bint zero=False):
    """A uint8 array of nbytes starting on a 64-byte boundary (aligned_array)."""
    cdef cnp.npy_intp n = <cnp.npy_intp>nbytes
    return aligned_array(1, &n, cnp.NPY_UINT8, nbytes, zero)


cdef int shape_dims(tuple shape, cnp.npy_intp* dims) except -1:
    """shape into dims[0 .. 7]; returns the rank."""
    cdef int nd = len(shape), i
    if nd > 8:
        raise ValueError(f"rank above 8: {shape}")
    for i in range(nd):
        dims[i] = <cnp.npy_intp>shape[i]
    return nd


cdef object new_output(tuple shape, int typenum):
    """An empty int8 (typenum NPY_INT8) or int16 (NPY_INT16) array of `shape`, from
    aligned_array when it is large: with numpy's alignment the kernels' row stores straddle
    cache lines (int16 GEMM 1024^3 ~1% slower through this API, up to 5% in a C harness).
    Small outputs come from PyArray_EMPTY alone (a second array object would cost more than
    the alignment saves); numpy's C API skips the attribute lookups of np.empty (most of a
    small sparse call)."""
    cdef cnp.npy_intp dims[8]
    cdef int nd = shape_dims(shape, dims), i
    cdef size_t nbytes = 1 if typenum == cnp.NPY_INT8 else 2
    for i in range(nd):
        nbytes *= <size_t>dims[i]
    if nbytes < 65536:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    return aligned_array(nd, dims, typenum, nbytes)


cdef class ScratchCache:
    """The scratch buffer a packed layer reuses between calls (page faults cost more than a
    run). take() hands it out and forgets it, under the GIL, so concurrent calls never
    share one; give() keeps it for the next call."""
    cdef object buf

    cdef object take(self, size_t need):
        buf, self.buf = self.buf, None
        if buf is None or buf.shape[0] < need:
            buf = np.empty(need, dtype=np.uint8)
        return buf

    cdef void give(self, object buf):
        self.buf = buf


cdef bint is_int8_c(object x, int ndim):
    """x is a C-contiguous int8 ndarray of ndim dimensions: numpy's C API, not attribute
    lookups (those were most of a small kernel call's ~0.7 us)."""
    return (isinstance(x, cnp.ndarray) and cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_INT8
            and cnp.PyArray_NDIM(<cnp.ndarray>x) == ndim
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x))


cdef object int8_in(object a, int ndim, str layout):
    """`a` checked to be a C-contiguous int8 array of ndim dimensions (ValueError naming
    the expected layout otherwise); its data pointer is then array_data(a)."""
    if not is_int8_c(a, ndim):
        got = f"{a.dtype} of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"a must be a C-contiguous int8 array {layout}, got {got}")
    return a


cdef object int8_out(object out, tuple shape):
    """A new int8 array of `shape` (new_output), or `out` checked to be one to write into."""
    if out is None:
        return new_output(shape, cnp.NPY_INT8)
    cdef cnp.npy_intp dims[8]
    cdef int nd = shape_dims(shape, dims), i
    cdef bint ok = is_int8_c(out, nd) and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
    if ok:
        for i in range(nd):
            ok = ok and cnp.PyArray_DIMS(<cnp.ndarray>out)[i] == dims[i]
    if not ok:
        raise ValueError(f"out must be a writeable C-contiguous int8 array of shape {shape}")
    return out


cdef check_requant_out(int zo, int qmin, int qmax, int num_threads, int lo=-128, int hi=127):
    """Cheap re-check of the scalar arguments every kernel takes (the C side trusts them)."""
    if not (lo <= zo <= hi and lo <= qmin <= qmax <= hi):
        raise ValueError(f"need {lo} <= zo <= {hi} and {lo} <= qmin <= qmax <= {hi}, "
                         f"got zo={zo}, qmin={qmin}, qmax={qmax}")
    if not 1 <= num_threads <= 64:
        raise ValueError(f"num_threads must lie in [1, 64], got {num_threads}")
