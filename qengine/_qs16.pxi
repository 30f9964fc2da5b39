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
    cdef ScratchCache _scratch

    def __cinit__(self, const int8_t[:, ::1] w, const int64_t[::1] bias,
                  const int32_t[::1] m0, const int32_t[::1] sh, str isa):
        self.isa = isa
        self._scratch = ScratchCache()
        self.kernel = qe_qs16_gemm_kernel_for(isa_names().index(isa))
        self.n = w.shape[0]
        self.k = w.shape[1]
        size = qe_qs16_gemm_packed_w_size(self.kernel, self.n, self.k)
        self.packed = aligned_bytes(size, zero=True)
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
        out = new_output((m, self.n), cnp.NPY_INT8 if out8 else cnp.NPY_INT16)
        if m == 0 or self.n == 0:
            return out
        need = qe_qs16_gemm_scratch_size(self.kernel, m, self.k) + 1
        scratch = self._scratch.take(need)
        cdef uint8_t* s = <uint8_t*>array_data(scratch)
        cdef const uint8_t* w = <const uint8_t*>array_data(self.packed)
        cdef void* cp = array_data(out)
        cdef int16_t zero = 0
        cdef const int16_t* ap = &a[0, 0] if self.k else &zero
        with nogil:
            qe_qs16_gemm_run(self.kernel, m, self.n, self.k, ap, self.k, w, cp, self.n, out8,
                             zo, qmin, qmax, s, num_threads)
        self._scratch.give(scratch)
        return out


cdef class PackedConv2d16:
    """OHWI int8 weights packed once for the 16x8 convolution of one ISA variant and path,
    with int64 bias, m0, sh; run() takes int16 NHWC input."""
    cdef qe_conv2d conv
    cdef readonly object packed
    cdef readonly str isa

    def __cinit__(self, const int8_t[:, :, :, ::1] w, const int64_t[::1] bias,
                  const int32_t[::1] m0, const int32_t[::1] sh, stride, padding, dilation,
                  size_t groups, int pad_value, str isa, bint force_generic):
        self.isa = isa
        self.conv.o = w.shape[0]
        self.conv.kh = w.shape[1]
        self.conv.kw = w.shape[2]
        self.conv.c = w.shape[3] * groups
        self.conv.stride_h, self.conv.stride_w = stride
        self.conv.dilation_h, self.conv.dilation_w = dilation
        (self.conv.pad_top, self.conv.pad_left, self.conv.pad_bottom,
         self.conv.pad_right) = padding
        self.conv.groups = groups
        self.conv.pad_value = pad_value
        qe_qs16_conv2d_setup(&self.conv, isa_names().index(isa), force_generic)
        size = qe_qs16_conv2d_packed_size(&self.conv)
        self.packed = aligned_bytes(size, zero=True)
        cdef uint8_t[::1] buf = self.packed
        qe_qs16_conv2d_pack(&self.conv, &w[0, 0, 0, 0], &bias[0], &m0[0], &sh[0], &buf[0])

    @property
    def path(self):
        return _CONV_PATHS[self.conv.path]

    @property
    def acc64(self):
        cdef uint8_t[::1] buf = self.packed
        return bool(qe_qs16_conv2d_packed_acc64(&self.conv, &buf[0]))

    @property
    def kernel_name(self):
        cdef uint8_t[::1] buf = self.packed
        return qe_qs16_conv2d_kernel_name(&self.conv, &buf[0]).decode()

    def out_size(self, size_t h, size_t w):
        cdef size_t ho, wo
        qe_conv2d_out_size(&self.conv, h, w, &ho, &wo)
        return ho, wo

    def run(self, const int16_t[:, :, :, ::1] x, bint out8, int zo, int qmin, int qmax,
            int num_threads):
        if <size_t>x.shape[3] != self.conv.c:
            raise ValueError(f"x has C={x.shape[3]} channels, the packed weights expect "
                             f"C={self.conv.c}")
        cdef size_t n = x.shape[0], h = x.shape[1], w = x.shape[2], ho, wo
        if h == 0 or w == 0:
            raise ValueError(f"x must be NHWC with H, W >= 1, got shape {tuple(x.shape)}")
        qe_conv2d_out_size(&self.conv, h, w, &ho, &wo)
        if ho == 0 or wo == 0:
            raise ValueError(f"output size would be {ho}x{wo}: the padded {h}x{w} input is "
                             f"smaller than the dilated {self.conv.kh}x{self.conv.kw} kernel")
        out = new_output((n, ho, wo, self.conv.o), cnp.NPY_INT8 if out8 else cnp.NPY_INT16)
        if n == 0 or self.conv.o == 0:
            return out
        scratch = np.empty(qe_qs16_conv2d_scratch_size(&self.conv, n, h, w, num_threads) + 1,
                           dtype=np.uint8)
        cdef uint8_t[::1] s = scratch
        cdef uint8_t[::1] pw = self.packed
        cdef cnp.ndarray yarr = out
        cdef void* yp = cnp.PyArray_DATA(yarr)
        with nogil:
            qe_qs16_conv2d_run(&self.conv, &pw[0], n, h, w, &x[0, 0, 0, 0], yp, out8, zo,
                               qmin, qmax, &s[0], num_threads)
        return out


def qs16_kernel_name(str op):
    return qe_qs16_ops_kernel_name(op.encode()).decode()


def qs16_add(tuple shape, const int16_t[::1] a, tuple a_strides, const int16_t[::1] b,
             tuple b_strides, tuple params, int num_threads):
    """As ops_add (coalesced broadcast geometry) for int16; params = (ka, kb, bias, m0, sh,
    zo, qmin, qmax) of eq. 23."""
    cdef size_t s[6]
    cdef size_t sa[6]
    cdef size_t sb[6]
    cdef size_t ndim = len(shape)
    _eltwise_geometry(shape, a_strides, b_strides, s, sa, sb)
    cdef qe_qs16_add_params p
    p.ka, p.kb, p.bias, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    out = np.empty(int(np.prod(shape)), dtype=np.int16)
    cdef int16_t[::1] y = out
    if y.shape[0]:
        with nogil:
            qe_qs16_add_bcast(ndim, s, &a[0], sa, &b[0], sb, &y[0], &p, num_threads)
    return out


def qs16_maxpool(const int16_t[:, :, :, ::1] x, tuple kernel, tuple stride, tuple padding,
                 tuple out_hw, int qmin, int qmax, int num_threads):
    cdef qe_pool_geometry g = _geometry((x.shape[0], x.shape[1], x.shape[2], x.shape[3]),
                                        kernel, stride, padding, out_hw)
    out = np.empty((g.n, g.oh, g.ow, g.c), dtype=np.int16)
    cdef int16_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs16_maxpool(&g, &x[0, 0, 0, 0], &y[0, 0, 0, 0], qmin, qmax, num_threads)
    return out


def qs16_avgpool(const int16_t[:, :, :, ::1] x, tuple kernel, tuple stride, tuple padding,
                 tuple out_hw, int zi, int zo, int qmin, int qmax, bint count_include_pad,
                 const int32_t[::1] m0, const int32_t[::1] sh, int num_threads):
    cdef qe_pool_geometry g = _geometry((x.shape[0], x.shape[1], x.shape[2], x.shape[3]),
                                        kernel, stride, padding, out_hw)
    cdef qe_qs8_avgpool_params p
    p.zi, p.zo, p.qmin, p.qmax = zi, zo, qmin, qmax
    p.count_include_pad = count_include_pad
    p.m0 = &m0[0]
    p.sh = &sh[0]
    out = np.empty((g.n, g.oh, g.ow, g.c), dtype=np.int16)
    cdef int16_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs16_avgpool(&g, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &p, num_threads)
    return out


def qs16_gavgpool(const int16_t[:, :, :, ::1] x, tuple params, int num_threads):
    cdef qe_qs16_gavgpool_params p
    p.bias, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    cdef size_t n = x.shape[0], hw = x.shape[1] * x.shape[2], c = x.shape[3]
    out = np.empty((n, 1, 1, c), dtype=np.int16)
    cdef int16_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs16_gavgpool(n, hw, c, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &p, num_threads)
    return out


def qs16_quantize(const float[::1] x, float inv_scale, int zp, int num_threads):
    cdef qe_f32_qs8_params p
    p.inv_scale, p.zp = inv_scale, zp
    cdef size_t n = x.shape[0]
    out = np.empty(n, dtype=np.int16)
    cdef int16_t[::1] y = out
    if n:
        with nogil:
            qe_f32_qs16_quantize(n, &x[0], &y[0], &p, num_threads)
    return out


def qs16_dequantize(const int16_t[::1] x, float scale, int zp, int num_threads):
    cdef qe_qs8_f32_params p
    p.scale, p.zp = scale, zp
    cdef size_t n = x.shape[0]
    out = np.empty(n, dtype=np.float32)
    cdef float[::1] y = out
    if n:
        with nogil:
            qe_qs16_f32_dequantize(n, &x[0], &y[0], &p, num_threads)
    return out


def qs16_requantize(cnp.ndarray x, bint out16, tuple params, int num_threads):
    """x: contiguous 1-D int8 or int16; returns int16 (out16) or int8."""
    cdef qe_qs16_requant_params p
    p.zi, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    cdef size_t n = cnp.PyArray_SIZE(x)  # not x.shape: Cython 0.29 + the numpy 1.7 API
    cdef bint in16 = x.dtype == np.int16
    out = np.empty(n, dtype=np.int16 if out16 else np.int8)
    cdef cnp.ndarray yarr = out
    cdef const void* xp = cnp.PyArray_DATA(x)
    cdef void* yp = cnp.PyArray_DATA(yarr)
    if n:
        with nogil:
            qe_qs16_requantize(n, xp, in16, yp, out16, &p, num_threads)
    return out
