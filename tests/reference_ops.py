"""Pure-numpy reference of the int8 operators, docs/QUANTIZATION.md eq. 9-19.

Written from the equations (window definitions, formulas), not from the C code. Integer
parameters come from qengine.quant, which is itself part of the spec (and tested against
the real-valued formulas in test_ops.py)."""
import numpy as np

from qengine import quant as Q
from reference import requantize


def _window(o, stride, pad, k, size):
    """Real input positions of output o along one axis: padded window clipped to [0, size)."""
    start = o * stride - pad
    return max(start, 0), min(start + k, size)


def _out_size(size, k, stride, before, after):
    return (size + before + after - k) // stride + 1


def maxpool2d(x, kernel, stride, padding, qmin=-128, qmax=127):
    (kh, kw), (sh, sw), (t, l, b, r) = kernel, stride, padding
    n, h, w, c = x.shape
    oh, ow = _out_size(h, kh, sh, t, b), _out_size(w, kw, sw, l, r)
    y = np.empty((n, oh, ow, c), np.int64)
    for i in range(oh):
        y0, y1 = _window(i, sh, t, kh, h)
        for j in range(ow):
            x0, x1 = _window(j, sw, l, kw, w)
            y[:, i, j] = x[:, y0:y1, x0:x1].astype(np.int64).max(axis=(1, 2))   # eq. 14
    return np.clip(y, qmin, qmax).astype(np.int8)


def avgpool2d(x, kernel, stride, padding, sx, zx, sy, zy, count_include_pad=False,
              qmin=-128, qmax=127):
    (kh, kw), (sh, sw), (t, l, b, r) = kernel, stride, padding
    n, h, w, c = x.shape
    oh, ow = _out_size(h, kh, sh, t, b), _out_size(w, kw, sw, l, r)
    m0, shift = Q.avgpool_params(sx, sy, kh * kw)
    y = np.empty((n, oh, ow, c), np.int64)
    for i in range(oh):
        y0, y1 = _window(i, sh, t, kh, h)
        for j in range(ow):
            x0, x1 = _window(j, sw, l, kw, w)
            acc = (x[:, y0:y1, x0:x1].astype(np.int64) - zx).sum(axis=(1, 2))   # eq. 15
            cnt = kh * kw if count_include_pad else (y1 - y0) * (x1 - x0)
            y[:, i, j] = requantize(acc, m0[cnt], shift[cnt], zy, qmin, qmax)
    return y.astype(np.int8)


def global_avgpool(x, sx, zx, sy, zy, qmin=-128, qmax=127):
    n, h, w, c = x.shape
    _, m0, sh = Q.gavgpool_params(sx, zx, sy, h * w)
    acc = (x.astype(np.int64) - zx).sum(axis=(1, 2), keepdims=True)           # eq. 16
    return requantize(acc, m0, sh, zy, qmin, qmax).astype(np.int8)


def add(a, b, sa, za, sb, zb, sy, zy, qmin=-128, qmax=127):
    ka, kb, _, m0, sh = Q.add_params(sa, za, sb, zb, sy, zy)
    acc = (a.astype(np.int64) - za) * ka + (b.astype(np.int64) - zb) * kb       # eq. 9
    return requantize(acc, m0, sh, zy, qmin, qmax).astype(np.int8)


def mul(a, b, sa, za, sb, zb, sy, zy, qmin=-128, qmax=127):
    m0, sh = Q.mul_params(sa, sb, sy)
    acc = (a.astype(np.int64) - za) * (b.astype(np.int64) - zb)                  # eq. 10
    return requantize(acc, m0, sh, zy, qmin, qmax).astype(np.int8)


def requantize_op(x, sx, zx, sy, zy, qmin=-128, qmax=127):
    m0, sh = Q.requant_params(sx, sy)                                             # eq. 12
    return requantize(x.astype(np.int64) - zx, m0, sh, zy, qmin, qmax).astype(np.int8)


def concat(xs, scales, zps, sy, zy):
    parts = [x if (float(s) == float(sy) and z == zy) else requantize_op(x, s, z, sy, zy)
             for x, s, z in zip(xs, scales, zps)]                                 # eq. 11
    return np.concatenate(parts, axis=-1)


def lut(x, table):
    return np.asarray(table, np.int8)[x.astype(np.int64) + 128]                  # eq. 13


def quantize(x, scale, zp):
    """eq. 17 in float32 numpy arithmetic (IEEE single, no FMA)."""
    inv = Q.quantize_params(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        t = x.astype(np.float32) * inv
        u = t + np.float32(0.5)
    u = np.where(np.isnan(u), np.float32(0), u)
    q = np.floor(np.clip(u, -128 - zp, 127 - zp)).astype(np.int64) + zp
    return q.astype(np.int8)


def dequantize(q, scale, zp):
    return np.float32(scale) * (q.astype(np.int64) - zp).astype(np.float32)       # eq. 18


def softmax(x, sx, int8_out=False):
    table = Q.softmax_table(sx).astype(np.int64)
    x = x.astype(np.int64)
    e = table[x.max(axis=-1, keepdims=True) - x]                                  # eq. 19
    s = e.sum(axis=-1, keepdims=True)
    if int8_out:
        return np.minimum((512 * e + s) // (2 * s) - 128, 127).astype(np.int8)
    return e.astype(np.float32) / s.astype(np.float32)
