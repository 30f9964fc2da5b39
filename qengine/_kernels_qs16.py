"""int16 activations x int8 weights ("16x8", docs/QUANTIZATION.md section 13), on numpy
arrays. Re-exported by qengine.kernels; K.qgemm and K.qconv2d forward int16 inputs here.

Activations are int16 (zero points 0 in the fixed scheme, any int16 value accepted);
weights int8 in [-127, 127]; bias int64 with |bias| <= 2^40; accumulation is exact (int32
when eq. 21 proves it safe, else int64, chosen at packing). Outputs int16 by default,
int8 with out_dtype=np.int8 (a 16-bit layer feeding an 8-bit one). Every argument is
validated (ValueError) before anything reaches C."""
import math

import numpy as np

from qengine import _native
from qengine import _validate as V
from qengine import quant as Q

__all__ = ["qgemm16", "pack_gemm16", "qconv2d16", "pack_conv2d16", "add16", "maxpool2d16",
           "avgpool2d16", "global_avgpool16", "quantize16", "dequantize16", "requantize16",
           "qs16_kernel_name", "INT16_MIN", "INT16_MAX", "BIAS16_MAX"]

INT16_MIN, INT16_MAX = -32768, 32767
BIAS16_MAX = 2**40   # |bias| bound of the 16x8 kernels (keeps |acc| < 2^48, see §13)
K16_MAX = 2**24      # longest reduction accepted (|acc| < 2^24 * 2^22 + 2^40 < 2^47)


def int16_array(name, x, ndim):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy int16 array, got {type(x).__name__}")
    if x.dtype != np.int16:
        raise ValueError(f"{name} must have dtype int16, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return np.ascontiguousarray(x)


def bias64(bias, n):
    arr = np.asarray(bias)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"bias must be an integer array, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"bias must have shape ({n},), got {arr.shape}")
    if arr.size and (arr.min() < -BIAS16_MAX or arr.max() > BIAS16_MAX):
        raise ValueError(f"bias values must lie in [-2^40, 2^40] for int16 activations, got "
                         f"[{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.int64)


def out_range(out_dtype, zo, qmin, qmax):
    """(out8, zo, qmin, qmax): output type int16 (default) or int8; zo, qmin, qmax within
    it; qmin/qmax default to the type's range."""
    dt = np.dtype(np.int16 if out_dtype is None else out_dtype)
    if dt not in (np.int16, np.int8):
        raise ValueError(f"out_dtype must be int16 or int8, got {dt}")
    lo, hi = (INT16_MIN, INT16_MAX) if dt == np.int16 else (V.INT8_MIN, V.INT8_MAX)
    zo = V.int_scalar("zo", int(zo) if isinstance(zo, np.integer) else zo, lo, hi)
    qmin, qmax = V.clamp(lo if qmin is None else qmin, hi if qmax is None else qmax, lo, hi)
    return dt == np.int8, zo, qmin, qmax


def pack_gemm16(w, bias, m0, sh):
    """Pack int8 weights W [N, K] with int64 bias/m0/sh once for the selected variant's
    16x8 GEMM. .acc64 tells whether eq. 21 chose int64 accumulators; .run(a, out8, zo,
    qmin, qmax, num_threads) is the fast path."""
    w = V.int8_array("w", w, 2, weights=True)
    n, k = w.shape
    if k > K16_MAX:
        raise ValueError(f"K={k} is larger than the supported {K16_MAX}")
    bias = bias64(bias, n)
    m0, sh = V.requant(n, m0, sh)
    return _native.PackedGemm16(w, bias, m0, sh, _native.isa_selected())


def qgemm16(a, w, bias, m0, sh, zo=0, qmin=None, qmax=None, num_threads=1, out_dtype=None):
    """int16 (or int8) [M, N] = requant(bias[n] + sum_k a[m, k] * w[n, k]) with the exact
    sum (eq. 20) and eq. 5. a int16 [M, K]; w int8 [N, K] in [-127, 127]; bias int64 [N];
    m0 in [0, 2^31), sh in [1, 62] per channel; zo/qmin/qmax within out_dtype (int16 by
    default, qmin/qmax default to its range)."""
    a = int16_array("a", a, 2)
    w = V.int8_array("w", w, 2, weights=True)
    if a.shape[1] != w.shape[1]:
        raise ValueError(f"a has K={a.shape[1]} columns but w has K={w.shape[1]} "
                         f"(w is [N, K], one row per output channel)")
    out8, zo, qmin, qmax = out_range(out_dtype, zo, qmin, qmax)
    num_threads = V.threads(num_threads)
    return pack_gemm16(w, bias, m0, sh).run(a, out8, zo, qmin, qmax, num_threads)


# ---- convolution ----------------------------------------------------------------------------

def pack_conv2d16(w, bias, m0, sh, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                  groups=1, pad_value=0):
    """Pack OHWI int8 weights for the 16x8 convolution of the selected variant (paths as
    K.pack_conv2d; .acc64 says whether eq. 21 chose int64 accumulators)."""
    from qengine._kernels_conv import _pair, _padding, _force_generic
    w = V.int8_array("w", w, 4, weights=True)
    o, kh, kw, cg = w.shape
    if min(o, kh, kw, cg) < 1:
        raise ValueError(f"w must be [O, kh, kw, C // groups] with every size >= 1, "
                         f"got shape {w.shape}")
    if kh * kw * cg > K16_MAX:
        raise ValueError(f"kh * kw * C / groups = {kh * kw * cg} is larger than {K16_MAX}")
    groups = V.int_scalar("groups", groups, 1, 2**20)
    if o % groups:
        raise ValueError(f"output channels O={o} are not divisible by groups={groups}")
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    padding = _padding(padding)
    pad_value = V.int_scalar("pad_value", pad_value, INT16_MIN, INT16_MAX)
    bias = bias64(bias, o)
    m0, sh = V.requant(o, m0, sh)
    return _native.PackedConv2d16(w, bias, m0, sh, stride, padding, dilation, groups,
                                  pad_value, _native.isa_selected(), _force_generic())


def qconv2d16(x, w, bias, m0, sh, zo=0, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
              groups=1, pad_value=0, qmin=None, qmax=None, num_threads=1, out_dtype=None):
    """int16 NHWC x convolved with int8 OHWI w (K.qconv2d semantics, eq. 20 and 5): exact
    sums, int16 output (int8 with out_dtype=np.int8); bias int64; pad_value int16."""
    x = int16_array("x", x, 4)
    w = V.int8_array("w", w, 4, weights=True)
    groups = V.int_scalar("groups", groups, 1, 2**20)
    n, h, wd, c = x.shape
    if min(h, wd, c) < 1:
        raise ValueError(f"x must be NHWC with H, W, C >= 1, got shape {x.shape}")
    if c % groups:
        raise ValueError(f"input channels C={c} are not divisible by groups={groups}")
    if w.shape[3] * groups != c:
        raise ValueError(f"w has {w.shape[3]} input channels per group but x has C={c} with "
                         f"groups={groups} (w must be [O, kh, kw, {c // groups}])")
    out8, zo, qmin, qmax = out_range(out_dtype, zo, qmin, qmax)
    num_threads = V.threads(num_threads)
    packed = pack_conv2d16(w, bias, m0, sh, stride, padding, dilation, groups, pad_value)
    return packed.run(x, out8, zo, qmin, qmax, num_threads)


# ---- elementwise, pooling ---------------------------------------------------------------------

def _zp16(name, z):
    return V.int_scalar(name, int(z) if isinstance(z, np.integer) else z, INT16_MIN, INT16_MAX)


def _clamp16(qmin, qmax):
    return V.clamp(INT16_MIN if qmin is None else qmin, INT16_MAX if qmax is None else qmax,
                   INT16_MIN, INT16_MAX)


def add16_params(a_scale, a_zero_point, b_scale, b_zero_point, y_scale):
    """(ka, kb, bias, m0, sh) of eq. 23: eq. 9 with int16 zero points and an int64 bias."""
    sa, sb = Q._scale("a_scale", a_scale), Q._scale("b_scale", b_scale)
    sy = Q._scale("y_scale", y_scale)
    za, zb = _zp16("a_zero_point", a_zero_point), _zp16("b_zero_point", b_zero_point)
    smax = max(sa, sb)
    ratio = smax / sy
    if not 2.0**-12 <= ratio < 2.0**11:
        raise ValueError(f"add: max(a_scale, b_scale) / y_scale = {ratio:g} is outside "
                         f"[2^-12, 2^11); such scales are degenerate")
    one = 1 << Q.ADD_SHIFT
    ka = math.floor(sa / smax * one + 0.5)
    kb = math.floor(sb / smax * one + 0.5)
    m0, sh = Q.multiplier(ratio / one)
    return ka, kb, -(za * ka + zb * kb), m0, sh


def add16(a, b, a_scale, a_zero_point, b_scale, b_zero_point, y_scale, y_zero_point,
          qmin=None, qmax=None, num_threads=1):
    """int16 y = a + b in real values (eq. 23), exact int64 sum, one rounding; numpy
    broadcasting (as K.add: the kernel walks the broadcast geometry, nothing is copied)."""
    from qengine._kernels_ops import _broadcast
    a, b = int16_array("a", a, np.ndim(a)), int16_array("b", b, np.ndim(b))
    out_shape, shape, sa, sb = _broadcast(a, b)
    zo = _zp16("y_zero_point", y_zero_point)
    qmin, qmax = _clamp16(qmin, qmax)
    ka, kb, bias, m0, sh = add16_params(a_scale, a_zero_point, b_scale, b_zero_point, y_scale)
    y = _native.qs16_add(shape, a.reshape(-1), sa, b.reshape(-1), sb,
                         (ka, kb, bias, m0, sh, zo, qmin, qmax), V.threads(num_threads))
    return y.reshape(out_shape)


def maxpool2d16(x, kernel, stride=1, padding=0, qmin=None, qmax=None, num_threads=1):
    """int16 NHWC max pool (eq. 14), geometry as K.maxpool2d."""
    from qengine._kernels_ops import _pool_geometry
    x = int16_array("x", x, 4)
    k, s, p, o = _pool_geometry(x, kernel, stride, padding)
    qmin, qmax = _clamp16(qmin, qmax)
    return _native.qs16_maxpool(x, k, s, p, o, qmin, qmax, V.threads(num_threads))


def avgpool2d16(x, kernel, x_scale, x_zero_point, y_scale, y_zero_point, stride=1, padding=0,
                count_include_pad=False, qmin=None, qmax=None, num_threads=1):
    """int16 NHWC average pool (eq. 15 with an exact int64 window sum), geometry and
    divisor as K.avgpool2d."""
    from qengine._kernels_ops import _pool_geometry
    x = int16_array("x", x, 4)
    k, s, p, o = _pool_geometry(x, kernel, stride, padding)
    if k[0] * k[1] > 2**16:
        raise ValueError(f"avgpool2d16 supports kernels of at most 65536 pixels, got {k}")
    zi, zo = _zp16("x_zero_point", x_zero_point), _zp16("y_zero_point", y_zero_point)
    qmin, qmax = _clamp16(qmin, qmax)
    m0, sh = Q.avgpool_params(x_scale, y_scale, k[0] * k[1])
    return _native.qs16_avgpool(x, k, s, p, o, zi, zo, qmin, qmax, bool(count_include_pad),
                                m0, sh, V.threads(num_threads))


def global_avgpool16(x, x_scale, x_zero_point, y_scale, y_zero_point, qmin=None, qmax=None,
                     num_threads=1):
    """int16 NHWC -> int16 [N, 1, 1, C]: eq. 16 with an exact int64 sum. H * W <= 2^24."""
    x = int16_array("x", x, 4)
    hw = x.shape[1] * x.shape[2]
    if hw == 0 or hw > 2**24:
        raise ValueError(f"global_avgpool16 needs 1 <= H * W <= 2^24, got {x.shape[1:3]}")
    zi, zo = _zp16("x_zero_point", x_zero_point), _zp16("y_zero_point", y_zero_point)
    qmin, qmax = _clamp16(qmin, qmax)
    m0, sh = Q.multiplier(Q._scale("x_scale", x_scale) / (Q._scale("y_scale", y_scale) * hw))
    return _native.qs16_gavgpool(x, (-hw * zi, m0, sh, zo, qmin, qmax), V.threads(num_threads))


# ---- float boundary, requantize ---------------------------------------------------------------

def quantize16(x, scale, zero_point=0, num_threads=1):
    """float32 -> int16 (eq. 17 with the int16 range): q = clamp(floor(x * float32(1/scale)
    + 0.5) + zero_point, -32768, 32767) in float32 without fused multiply-add."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise ValueError(f"x must be a numpy float32 array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    x = np.ascontiguousarray(x)
    inv = Q.quantize_params(scale)
    zp = _zp16("zero_point", zero_point)
    return _native.qs16_quantize(x.reshape(-1), inv, zp, V.threads(num_threads)).reshape(x.shape)


def dequantize16(x, scale, zero_point=0, num_threads=1):
    """int16 -> float32 (eq. 18): float32(scale) * float32(x - zero_point)."""
    x = int16_array("x", x, np.ndim(x))
    with np.errstate(over="ignore"):
        s = np.float32(Q._scale("scale", scale))
    if not (np.isfinite(s) and s >= np.finfo(np.float32).tiny):
        raise ValueError(f"scale {scale!r} is not a finite normal float32")
    zp = _zp16("zero_point", zero_point)
    return _native.qs16_dequantize(x.reshape(-1), s, zp, V.threads(num_threads)).reshape(x.shape)


def requantize16(x, x_scale, x_zero_point, y_scale, y_zero_point, out_dtype=np.int16,
                 qmin=None, qmax=None, num_threads=1):
    """int16 or int8 x -> int16 or int8 y (out_dtype): eq. 5 on x - x_zero_point with
    M = x_scale / y_scale, evaluated directly (eq. 24; a table would need 65536 entries)."""
    if not isinstance(x, np.ndarray) or x.dtype not in (np.int8, np.int16):
        raise ValueError(f"x must be a numpy int8 or int16 array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    x = np.ascontiguousarray(x)
    out8, zo, qmin, qmax = out_range(out_dtype, y_zero_point, qmin, qmax)
    zi = (_zp16 if x.dtype == np.int16 else (lambda n, z: V.int_scalar(
        n, int(z) if isinstance(z, np.integer) else z, -128, 127)))("x_zero_point", x_zero_point)
    m0, sh = Q.requant_params(x_scale, y_scale)
    y = _native.qs16_requantize(x.reshape(-1), not out8, (zi, m0, sh, zo, qmin, qmax),
                                V.threads(num_threads))
    return y.reshape(x.shape)


def qs16_kernel_name(op):
    """Kernel the selected variant runs for a 16x8 op: "dwconv", "add", "maxpool",
    "avgpool", "gavgpool", "quantize", "dequantize", "requantize"."""
    return _native.qs16_kernel_name(op)
