"""The int8 operators besides GEMM and convolution, on numpy arrays (docs/QUANTIZATION.md
sections 6-12). Re-exported by qengine.kernels.

Activations are int8 NHWC with one real scale and zero point per tensor; each function
derives the integer parameters with qengine.quant (as the converter does), validates every
argument (ValueError), then runs the C kernel of the selected ISA variant with the GIL
released. Results are identical for every variant and every num_threads.
"""
import numbers

import numpy as np

from qengine import _native
from qengine import _validate as V
from qengine import quant as Q

__all__ = ["maxpool2d", "avgpool2d", "global_avgpool", "add", "mul", "concat", "lut",
           "requantize", "quantize", "dequantize", "softmax", "ops_kernel_name"]


# ---- argument helpers ---------------------------------------------------------------------

def _int8(name, x, min_ndim=0, ndim=None):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy int8 array, got {type(x).__name__}")
    if x.dtype != np.int8:
        raise ValueError(f"{name} must have dtype int8, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (NHWC), got shape {x.shape}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {x.shape}")
    return np.ascontiguousarray(x).reshape(x.shape)  # ascontiguousarray makes 0-d 1-d


def _pair(name, v, lo=1):
    if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)):
        v = (v, v)
    if not (isinstance(v, (tuple, list)) and len(v) == 2):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {v!r}")
    return tuple(V.int_scalar(name, int(x) if isinstance(x, np.integer) else x, lo, 2**20)
                 for x in v)


def _padding(padding):
    p = padding
    if isinstance(p, numbers.Integral) and not isinstance(p, (bool, np.bool_)):
        p = (p,) * 4
    elif isinstance(p, (tuple, list)) and len(p) == 2:
        p = (p[0], p[1], p[0], p[1])
    if not (isinstance(p, (tuple, list)) and len(p) == 4):
        raise ValueError(f"padding must be an integer, (pad_h, pad_w) or (top, left, bottom, "
                         f"right), got {padding!r}")
    return tuple(V.int_scalar("padding", int(x) if isinstance(x, np.integer) else x, 0, 2**20)
                 for x in p)


def _zp(name, z):
    return V.int_scalar(name, int(z) if isinstance(z, np.integer) else z, -128, 127)


def _pool_geometry(x, kernel, stride, padding):
    kh, kw = _pair("kernel", kernel)
    sh, sw = _pair("stride", stride)
    top, left, bottom, right = _padding(padding)
    if top >= kh or bottom >= kh or left >= kw or right >= kw:
        raise ValueError(f"padding {(top, left, bottom, right)} must be smaller than the "
                         f"kernel {(kh, kw)} on each side (a window of padding only)")
    _, h, w, _ = x.shape
    if h < 1 or w < 1:   # else every window is padding only (no pixel to take)
        raise ValueError(f"pooling needs H, W >= 1, got x of shape {x.shape}")
    if h + top + bottom < kh or w + left + right < kw:
        raise ValueError(f"kernel {(kh, kw)} is larger than the padded input "
                         f"{(h + top + bottom, w + left + right)}: output size would be <= 0")
    oh = (h + top + bottom - kh) // sh + 1
    ow = (w + left + right - kw) // sw + 1
    return (kh, kw), (sh, sw), (top, left, bottom, right), (oh, ow)


def _broadcast(a, b):
    """Output shape, and the coalesced geometry (shape, a strides, b strides in elements,
    0 on broadcast dims) the C driver walks: size-1 dims dropped, contiguous runs merged."""
    try:
        out_shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not broadcast "
                         f"(numpy rules: trailing dims equal or 1)") from None
    nd = len(out_shape)

    def strides(x):
        shape = (1,) * (nd - x.ndim) + x.shape
        st, acc = [0] * nd, 1
        for d in range(nd - 1, -1, -1):
            st[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return st

    sa, sb = strides(a), strides(b)
    dims = [(n, x, y) for n, x, y in zip(out_shape, sa, sb) if n != 1]
    merged = []
    for n, x, y in dims:
        if merged:
            pn, px, py = merged[-1]
            if px == x * n and py == y * n:
                merged[-1] = (pn * n, x, y)
                continue
        merged.append((n, x, y))
    if not merged:
        merged = [(1, 0, 0)]
    if len(merged) > 6:
        raise ValueError(f"broadcasting {a.shape} with {b.shape} needs {len(merged)} "
                         f"dimensions after merging; at most 6 are supported")
    shape, ast, bst = zip(*merged)
    return out_shape, tuple(shape), tuple(ast), tuple(bst)


# ---- pooling ----------------------------------------------------------------------------------

def maxpool2d(x, kernel, stride=1, padding=0, qmin=-128, qmax=127, num_threads=1):
    """int8 NHWC max pool (eq. 14) -> int8 [N, OH, OW, C]; same scale and zero point.

    kernel, stride: int or (h, w); padding: int, (h, w) or (top, left, bottom, right),
    each side smaller than the kernel; padded positions never win (as -inf).
    OH = (H + top + bottom - kh) // stride_h + 1 (floor), likewise OW. qmin/qmax: fused
    clamp (ReLU: qmin = zero point)."""
    x = _int8("x", x, ndim=4)
    k, s, p, o = _pool_geometry(x, kernel, stride, padding)
    qmin, qmax = V.clamp(qmin, qmax)
    return _native.ops_maxpool(x, k, s, p, o, qmin, qmax, V.threads(num_threads))


def avgpool2d(x, kernel, x_scale, x_zero_point, y_scale, y_zero_point, stride=1, padding=0,
              count_include_pad=False, qmin=-128, qmax=127, num_threads=1):
    """int8 NHWC average pool (eq. 15) requantized to (y_scale, y_zero_point).

    The window sum of (x - x_zero_point) is divided by the number of real pixels in the
    window (count_include_pad=False, ONNX's default) or by kh * kw (True: padded positions
    count as real zeros), with one rounding, half up. Geometry as maxpool2d."""
    x = _int8("x", x, ndim=4)
    k, s, p, o = _pool_geometry(x, kernel, stride, padding)
    if k[0] * k[1] > 2**16:
        raise ValueError(f"avgpool2d supports kernels of at most 65536 pixels, got {k}")
    zi, zo = _zp("x_zero_point", x_zero_point), _zp("y_zero_point", y_zero_point)
    qmin, qmax = V.clamp(qmin, qmax)
    m0, sh = Q.avgpool_params(x_scale, y_scale, k[0] * k[1])
    return _native.ops_avgpool(x, k, s, p, o, zi, zo, qmin, qmax, bool(count_include_pad),
                               m0, sh, V.threads(num_threads))


def global_avgpool(x, x_scale, x_zero_point, y_scale, y_zero_point, qmin=-128, qmax=127,
                   num_threads=1):
    """int8 NHWC -> int8 [N, 1, 1, C]: the mean over H x W requantized to
    (y_scale, y_zero_point) with one rounding, half up (eq. 16). Needs H * W <= 2^23."""
    x = _int8("x", x, ndim=4)
    hw = x.shape[1] * x.shape[2]
    if hw == 0 or hw > 2**23:
        raise ValueError(f"global_avgpool needs 1 <= H * W <= 2^23, got {x.shape[1:3]}")
    zo = _zp("y_zero_point", y_zero_point)
    qmin, qmax = V.clamp(qmin, qmax)
    bias, m0, sh = Q.gavgpool_params(x_scale, x_zero_point, y_scale, hw)
    return _native.ops_gavgpool(x, (bias, m0, sh, zo, qmin, qmax), V.threads(num_threads))


# ---- elementwise --------------------------------------------------------------------------------

def add(a, b, a_scale, a_zero_point, b_scale, b_zero_point, y_scale, y_zero_point,
        qmin=None, qmax=None, num_threads=1):
    """y = a + b in real values (eq. 9), int8 with numpy broadcasting (same shape, [C],
    scalar, [N, 1, 1, C], ...), each input with its own scale/zero point, requantized to
    (y_scale, y_zero_point) with one rounding, then clamped to [qmin, qmax] (default: the
    type's range). Two int16 inputs run add16 (eq. 23)."""
    if all(isinstance(v, np.ndarray) and v.dtype == np.int16 for v in (a, b)):
        from qengine._kernels_qs16 import add16
        return add16(a, b, a_scale, a_zero_point, b_scale, b_zero_point, y_scale,
                     y_zero_point, qmin, qmax, num_threads)
    qmin, qmax = -128 if qmin is None else qmin, 127 if qmax is None else qmax
    a, b = _int8("a", a), _int8("b", b)
    out_shape, shape, sa, sb = _broadcast(a, b)
    zo = _zp("y_zero_point", y_zero_point)
    qmin, qmax = V.clamp(qmin, qmax)
    ka, kb, bias, m0, sh = Q.add_params(a_scale, a_zero_point, b_scale, b_zero_point,
                                        y_scale, zo)
    y = _native.ops_add(shape, a.reshape(-1), sa, b.reshape(-1), sb,
                        (ka, kb, bias, m0, sh, zo, qmin, qmax), V.threads(num_threads))
    return y.reshape(out_shape)


def mul(a, b, a_scale, a_zero_point, b_scale, b_zero_point, y_scale, y_zero_point,
        qmin=-128, qmax=127, num_threads=1):
    """y = a * b in real values (eq. 10), int8 with numpy broadcasting as in add()."""
    a, b = _int8("a", a), _int8("b", b)
    out_shape, shape, sa, sb = _broadcast(a, b)
    za, zb = _zp("a_zero_point", a_zero_point), _zp("b_zero_point", b_zero_point)
    zo = _zp("y_zero_point", y_zero_point)
    qmin, qmax = V.clamp(qmin, qmax)
    m0, sh = Q.mul_params(a_scale, b_scale, y_scale)
    y = _native.ops_mul(shape, a.reshape(-1), sa, b.reshape(-1), sb,
                        (za, zb, m0, sh, zo, qmin, qmax), V.threads(num_threads))
    return y.reshape(out_shape)


# ---- channel concat, tables, requantize -------------------------------------------------------

def concat(xs, scales, zero_points, y_scale, y_zero_point, num_threads=1):
    """Concatenate int8 tensors along the last (channel) axis; input k is requantized from
    (scales[k], zero_points[k]) to (y_scale, y_zero_point) by eq. 12, or copied when both
    are equal to the output's (the usual case)."""
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError("xs must be a non-empty list of int8 arrays")
    xs = [_int8(f"xs[{k}]", x, min_ndim=1) for k, x in enumerate(xs)]
    if len(scales) != len(xs) or len(zero_points) != len(xs):
        raise ValueError(f"need one scale and zero point per input: {len(xs)} inputs, "
                         f"{len(scales)} scales, {len(zero_points)} zero points")
    lead = xs[0].shape[:-1]
    for k, x in enumerate(xs):
        if x.shape[:-1] != lead:
            raise ValueError(f"xs[{k}] has shape {x.shape}; all inputs must match "
                             f"{lead} except in the last axis")
    zo = _zp("y_zero_point", y_zero_point)
    Q._scale("y_scale", y_scale)
    tables = []
    for k, (s, z) in enumerate(zip(scales, zero_points)):
        z = _zp(f"zero_points[{k}]", z)
        Q._scale(f"scales[{k}]", s)
        if float(s) == float(y_scale) and z == zo:
            tables.append(None)
        else:
            m0, sh = Q.requant_params(s, y_scale)
            tables.append(_native.ops_requant_table(z, m0, sh, zo, -128, 127))
    pixels = int(np.prod(lead))
    y = _native.ops_concat([x.reshape(-1) for x in xs], tables, pixels,
                           V.threads(num_threads))
    return y.reshape(lead + (sum(x.shape[-1] for x in xs),))


def lut(x, table, num_threads=1):
    """y = table[x + 128] elementwise (eq. 13): any 8-bit function of an int8 tensor.
    table: int8 [256], e.g. from qengine.quant.lut_table("sigmoid", ...)."""
    x = _int8("x", x)
    table = _int8("table", table, ndim=1)
    if table.shape != (256,):
        raise ValueError(f"table must have 256 entries, got shape {table.shape}")
    return _native.ops_lut(x.reshape(-1), table, V.threads(num_threads)).reshape(x.shape)


def requantize(x, x_scale, x_zero_point, y_scale, y_zero_point, qmin=-128, qmax=127,
               num_threads=1):
    """int8 (x_scale, x_zero_point) -> int8 (y_scale, y_zero_point): eq. 5 on x - zx
    (eq. 12), evaluated through a 256-entry table."""
    x = _int8("x", x)
    zi, zo = _zp("x_zero_point", x_zero_point), _zp("y_zero_point", y_zero_point)
    qmin, qmax = V.clamp(qmin, qmax)
    m0, sh = Q.requant_params(x_scale, y_scale)
    table = _native.ops_requant_table(zi, m0, sh, zo, qmin, qmax)
    return _native.ops_lut(x.reshape(-1), table, V.threads(num_threads)).reshape(x.shape)


# ---- float boundary ---------------------------------------------------------------------------

def quantize(x, scale, zero_point, num_threads=1):
    """float32 -> int8 (eq. 17), in float32 without fused multiply-add:
    q = clamp(floor(x * float32(1/scale) + 0.5) + zero_point, -128, 127);
    NaN -> zero_point, +inf -> 127, -inf -> -128."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise ValueError(f"x must be a numpy float32 array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    x = np.ascontiguousarray(x).reshape(x.shape)
    inv = Q.quantize_params(scale)
    zp = _zp("zero_point", zero_point)
    return _native.ops_quantize(x.reshape(-1), inv, zp, V.threads(num_threads)).reshape(x.shape)


def dequantize(x, scale, zero_point, num_threads=1):
    """int8 -> float32 (eq. 18): float32(scale) * float32(x - zero_point), one rounding."""
    x = _int8("x", x)
    with np.errstate(over="ignore"):
        s = np.float32(Q._scale("scale", scale))
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny):
        raise ValueError(f"scale {scale!r} is not a finite normal float32 (subnormals are "
                         f"flushed to zero by ARMv7 NEON)")
    zp = _zp("zero_point", zero_point)
    return _native.ops_dequantize(x.reshape(-1), s, zp, V.threads(num_threads)).reshape(x.shape)


def softmax(x, x_scale, dtype=np.float32, num_threads=1):
    """Softmax over the last axis of int8 logits with scale x_scale (eq. 19; the zero point
    cancels). dtype float32: probabilities; dtype int8: scale 1/256, zero point -128
    (TFLite's convention), one rounding, half up."""
    x = _int8("x", x, min_ndim=1)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.int8):
        raise ValueError(f"softmax dtype must be float32 or int8, got {dtype}")
    table = Q.softmax_table(x_scale)
    x2 = x.reshape(-1, x.shape[-1]) if x.shape[-1] else x.reshape(0, 0)
    y = _native.ops_softmax(np.ascontiguousarray(x2), table, dtype == np.int8,
                            V.threads(num_threads))
    return y.reshape(x.shape)


def ops_kernel_name(op):
    """Kernel the selected variant runs for op: "lut" (also requantize and concat), "add",
    "mul", "maxpool", "avgpool", "gavgpool", "quantize", "dequantize", "softmax"."""
    return _native.ops_kernel_name(op)
