"""2-D convolution on numpy arrays: qconv2d and pack_conv2d (DESIGN.md sections 2 and 3).

A wrapper picks the specialisation at packing time: 1x1 stride-1 unpadded convolution runs
as one GEMM over the NHWC input, depthwise (groups == C) runs the dwconv kernels, anything
else runs im2col blocks through the GEMM microkernels. QENGINE_CONV_GENERIC=1 forces the
general path, so tests can prove the specialisations equal it."""
import os

import numpy as np

from qengine import _native
from qengine import _validate as V

__all__ = ["qconv2d", "pack_conv2d"]


def _pair(name, v, lo):
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = (v, v)
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return tuple(V.int_scalar(name, x, lo, 2**20) for x in v)


def _padding(padding):
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, (bool, np.bool_)):
        padding = (padding,) * 4
    if not isinstance(padding, (tuple, list)) or len(padding) != 4:
        raise ValueError(f"padding must be (top, left, bottom, right), got {padding!r}")
    return tuple(V.int_scalar("padding", p, 0, 2**20) for p in padding)


def _force_generic():
    return os.environ.get("QENGINE_CONV_GENERIC", "").strip() not in ("", "0")


def pack_conv2d(w, bias, m0, sh, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                groups=1, pad_value=0):
    """Pack OHWI int8 weights [O, kh, kw, C // groups] with bias/m0/sh once for the selected
    variant. The result's .run(x, zo, qmin, qmax, num_threads) is what the runtime calls;
    .path says which specialisation was chosen, .kernel_name which kernel does the work."""
    w = V.int8_array("w", w, 4, weights=True)
    o, kh, kw, cg = w.shape
    if min(o, kh, kw, cg) < 1:
        raise ValueError(f"w must be [O, kh, kw, C // groups] with every size >= 1, "
                         f"got shape {w.shape}")
    groups = V.int_scalar("groups", groups, 1, 2**20)
    if o % groups:
        raise ValueError(f"output channels O={o} are not divisible by groups={groups}")
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    padding = _padding(padding)
    pad_value = V.int_scalar("pad_value", pad_value, V.INT8_MIN, V.INT8_MAX)
    bias = V.int_vector("bias", bias, o, -2**31, 2**31 - 1)
    m0, sh = V.requant(o, m0, sh)
    return _native.PackedConv2d(w, bias, m0, sh, stride, padding, dilation, groups,
                                pad_value, _native.isa_selected(), _force_generic())


def qconv2d(x, w, bias, m0, sh, zo, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
            groups=1, pad_value=0, qmin=None, qmax=None, num_threads=1, **kw):
    """int8 NHWC [N, Ho, Wo, O] = requant(bias[o] + sum over the window of xpad * w[o])
    (eq. 3 and 5).

    x int8 NHWC [N, H, W, C]; w int8 OHWI [O, kh, kw, C // groups] in [-127, 127]; bias
    int32 [O] with the input zero point folded in; m0/sh per output channel; padding =
    (top, left, bottom, right), filled with pad_value (the input zero point);
    Ho = (H + top + bottom - dilation_h * (kh - 1) - 1) // stride_h + 1, likewise Wo.
    int16 x runs the 16x8 convolution (qconv2d16: int16 output, int64 bias, out_dtype=...)."""
    if isinstance(x, np.ndarray) and x.dtype == np.int16:
        from qengine._kernels_qs16 import qconv2d16
        return qconv2d16(x, w, bias, m0, sh, zo, stride, padding, dilation, groups, pad_value,
                         qmin, qmax, num_threads, **kw)
    if kw:
        raise ValueError(f"unexpected arguments for int8 qconv2d: {sorted(kw)}")
    qmin, qmax = V.INT8_MIN if qmin is None else qmin, V.INT8_MAX if qmax is None else qmax
    x = V.int8_array("x", x, 4)
    w = V.int8_array("w", w, 4, weights=True)
    groups = V.int_scalar("groups", groups, 1, 2**20)
    n, h, wd, c = x.shape
    if min(h, wd, c) < 1:
        raise ValueError(f"x must be NHWC with H, W, C >= 1, got shape {x.shape}")
    if c % groups:
        raise ValueError(f"input channels C={c} are not divisible by groups={groups}")
    if w.shape[3] * groups != c:
        raise ValueError(f"w has {w.shape[3]} input channels per group but x has C={c} with "
                         f"groups={groups} (w must be [O, kh, kw, C // groups] = "
                         f"[O, kh, kw, {c // groups}])")
    zo = V.int_scalar("zo", zo, V.INT8_MIN, V.INT8_MAX)
    qmin, qmax = V.clamp(qmin, qmax)
    num_threads = V.threads(num_threads)
    packed = pack_conv2d(w, bias, m0, sh, stride, padding, dilation, groups, pad_value)
    return packed.run(x, zo, qmin, qmax, num_threads)
