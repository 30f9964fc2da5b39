# The int8 operators besides GEMM and convolution (csrc/{lut,concat,eltwise,pool,quant,
# softmax}/). Called only from qengine/_kernels_ops.py, which validates every argument:
# arrays arrive C-contiguous with the right dtype and size, parameters in range.
from libc.stdint cimport uint32_t
from libc.string cimport memcpy
from qengine._capi_ops cimport *


def ops_kernel_name(str op):
    """Name of the kernel the selected variant runs for op ("lut", "add", "maxpool", ...)."""
    return qe_ops_kernel_name(op.encode()).decode()


def ops_requant_table(int zi, int m0, int sh, int zo, int qmin, int qmax):
    """int8 [256]: eq. 5 applied to q - zi for q = -128..127 (eq. 12)."""
    table = np.empty(256, dtype=np.int8)
    cdef int8_t[::1] t = table
    qe_qs8_requant_table(zi, m0, sh, zo, qmin, qmax, &t[0])
    return table


def ops_lut(const int8_t[::1] x, const int8_t[::1] table, int num_threads):
    out = np.empty(x.shape[0], dtype=np.int8)
    cdef int8_t[::1] y = out
    cdef size_t n = x.shape[0]
    if n:
        with nogil:
            qe_x8_lut(n, &x[0], &y[0], &table[0], num_threads)
    return out


def ops_concat(list xs, list tables, size_t pixels, int num_threads):
    """xs: int8 [pixels * c_k] flat rows; tables: None (identity) or int8 [256] per input."""
    cdef size_t k, n_in = len(xs), total = 0
    descs = np.zeros((n_in + 1) * sizeof(qe_qs8_concat_input), dtype=np.uint8)
    cdef uint8_t[::1] dbuf = descs
    cdef qe_qs8_concat_input* d = <qe_qs8_concat_input*>&dbuf[0]
    cdef const int8_t[::1] xv
    cdef const int8_t[::1] tv
    for k in range(n_in):
        xv = xs[k]
        d[k].channels = <size_t>xv.shape[0] // pixels if pixels else 0
        d[k].x = &xv[0] if xv.shape[0] else NULL
        d[k].identity = tables[k] is None
        if tables[k] is not None:
            tv = tables[k]
            memcpy(d[k].table, &tv[0], 256)
        total += d[k].channels
    out = np.empty(pixels * total, dtype=np.int8)
    cdef int8_t[::1] y = out
    if pixels and total:
        with nogil:
            qe_qs8_concat(pixels, n_in, d, &y[0], num_threads)
    return out


cdef int _eltwise_geometry(tuple shape, tuple a_strides, tuple b_strides, size_t* s,
                           size_t* sa, size_t* sb) except -1:
    cdef Py_ssize_t d
    for d in range(len(shape)):
        s[d] = shape[d]
        sa[d] = a_strides[d]
        sb[d] = b_strides[d]
    return 0


def ops_add(tuple shape, const int8_t[::1] a, tuple a_strides, const int8_t[::1] b,
            tuple b_strides, tuple params, int num_threads):
    """shape/strides: coalesced broadcast geometry (strides in elements, 0 = broadcast);
    params = (ka, kb, bias, m0, sh, zo, qmin, qmax) of eq. 9."""
    cdef size_t s[6]
    cdef size_t sa[6]
    cdef size_t sb[6]
    cdef size_t ndim = len(shape)
    _eltwise_geometry(shape, a_strides, b_strides, s, sa, sb)
    cdef qe_qs8_add_params p
    p.ka, p.kb, p.bias, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    out = np.empty(int(np.prod(shape)), dtype=np.int8)
    cdef int8_t[::1] y = out
    if y.shape[0]:
        with nogil:
            qe_qs8_add(ndim, s, &a[0], sa, &b[0], sb, &y[0], &p, num_threads)
    return out


def ops_mul(tuple shape, const int8_t[::1] a, tuple a_strides, const int8_t[::1] b,
            tuple b_strides, tuple params, int num_threads):
    """As ops_add; params = (za, zb, m0, sh, zo, qmin, qmax) of eq. 10."""
    cdef size_t s[6]
    cdef size_t sa[6]
    cdef size_t sb[6]
    cdef size_t ndim = len(shape)
    _eltwise_geometry(shape, a_strides, b_strides, s, sa, sb)
    cdef qe_qs8_mul_params p
    p.za, p.zb, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    out = np.empty(int(np.prod(shape)), dtype=np.int8)
    cdef int8_t[::1] y = out
    if y.shape[0]:
        with nogil:
            qe_qs8_mul(ndim, s, &a[0], sa, &b[0], sb, &y[0], &p, num_threads)
    return out


cdef qe_pool_geometry _geometry(tuple xshape, tuple kernel, tuple stride, tuple padding,
                                tuple oshape):
    cdef qe_pool_geometry g
    g.n, g.h, g.w, g.c = xshape
    g.kh, g.kw = kernel
    g.stride_h, g.stride_w = stride
    g.pad_top, g.pad_left, g.pad_bottom, g.pad_right = padding
    g.oh, g.ow = oshape
    return g


def pool_covers_image(tuple geometry):
    """True when the window's only output pixel covers the whole image (geometry as
    ops.py builds it): qe_qs8_avgpool then runs the global average pool kernel."""
    xshape, kernel, stride, padding, oshape = geometry
    cdef qe_pool_geometry g = _geometry(xshape, kernel, stride, padding, oshape)
    return bool(qe_pool_covers_image(&g))


def ops_maxpool(const int8_t[:, :, :, ::1] x, tuple kernel, tuple stride, tuple padding,
                tuple oshape, int qmin, int qmax, int num_threads):
    cdef qe_pool_geometry g = _geometry((x.shape[0], x.shape[1], x.shape[2], x.shape[3]),
                                        kernel, stride, padding, oshape)
    out = np.empty((g.n, g.oh, g.ow, g.c), dtype=np.int8)
    cdef int8_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs8_maxpool(&g, &x[0, 0, 0, 0], &y[0, 0, 0, 0], qmin, qmax, num_threads)
    return out


def ops_avgpool(const int8_t[:, :, :, ::1] x, tuple kernel, tuple stride, tuple padding,
                tuple oshape, int zi, int zo, int qmin, int qmax, bint count_include_pad,
                const int32_t[::1] m0, const int32_t[::1] sh, int num_threads):
    """m0/sh: multipliers indexed by the divisor count, kh * kw + 1 entries (eq. 15)."""
    cdef qe_pool_geometry g = _geometry((x.shape[0], x.shape[1], x.shape[2], x.shape[3]),
                                        kernel, stride, padding, oshape)
    cdef qe_qs8_avgpool_params p
    p.zi, p.zo, p.qmin, p.qmax = zi, zo, qmin, qmax
    p.count_include_pad = count_include_pad
    p.m0 = &m0[0]
    p.sh = &sh[0]
    out = np.empty((g.n, g.oh, g.ow, g.c), dtype=np.int8)
    cdef int8_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs8_avgpool(&g, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &p, num_threads)
    return out


def ops_gavgpool(const int8_t[:, :, :, ::1] x, tuple params, int num_threads):
    """params = (bias, m0, sh, zo, qmin, qmax) of eq. 16; -> int8 [N, 1, 1, C]."""
    cdef size_t n = x.shape[0], hw = x.shape[1] * x.shape[2], c = x.shape[3]
    cdef qe_qs8_gavgpool_params p
    p.bias, p.m0, p.sh, p.zo, p.qmin, p.qmax = params
    out = np.empty((n, 1, 1, c), dtype=np.int8)
    cdef int8_t[:, :, :, ::1] y = out
    if out.size:
        with nogil:
            qe_qs8_gavgpool(n, hw, c, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &p, num_threads)
    return out


def ops_quantize(const float[::1] x, float inv_scale, int zp, int num_threads):
    out = np.empty(x.shape[0], dtype=np.int8)
    cdef int8_t[::1] y = out
    cdef qe_f32_qs8_params p
    p.inv_scale = inv_scale
    p.zp = zp
    if x.shape[0]:
        with nogil:
            qe_f32_qs8_quantize(x.shape[0], &x[0], &y[0], &p, num_threads)
    return out


def ops_dequantize(const int8_t[::1] x, float scale, int zp, int num_threads):
    out = np.empty(x.shape[0], dtype=np.float32)
    cdef float[::1] y = out
    cdef qe_qs8_f32_params p
    p.scale = scale
    p.zp = zp
    if x.shape[0]:
        with nogil:
            qe_qs8_f32_dequantize(x.shape[0], &x[0], &y[0], &p, num_threads)
    return out


def ops_softmax(const int8_t[:, ::1] x, const uint32_t[::1] table, bint int8_out,
                int num_threads):
    cdef size_t rows = x.shape[0], n = x.shape[1]
    out = np.empty((rows, n), dtype=np.int8 if int8_out else np.float32)
    cdef int8_t[:, ::1] yq
    cdef float[:, ::1] yf
    if rows == 0 or n == 0:
        return out
    if int8_out:
        yq = out
        with nogil:
            qe_qs8_softmax_qs8(rows, n, &x[0, 0], &yq[0, 0], &table[0], num_threads)
    else:
        yf = out
        with nogil:
            qe_qs8_softmax_f32(rows, n, &x[0, 0], &yf[0, 0], &table[0], num_threads)
    return out
