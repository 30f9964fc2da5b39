"""Pure-numpy reference of the 16x8 kernels (docs/QUANTIZATION.md section 13), written from
the equations: sums are exact (int64 numpy, far from overflow for the tested sizes) and
eq. 5 is evaluated on Python integers, so no intermediate can wrap."""
import numpy as np

from reference import conv_accumulate

INT16_MIN, INT16_MAX = -32768, 32767


def requantize(acc, m0, sh, zo, qmin, qmax):
    """eq. 5 on exact integers: clamp(floor((acc * m0 + 2^(sh-1)) / 2^sh) + zo, qmin, qmax);
    m0/sh broadcast against acc's last axis (or scalars)."""
    acc = np.asarray(acc, dtype=np.int64)
    m0 = np.broadcast_to(np.asarray(m0, dtype=np.int64), acc.shape)
    sh = np.broadcast_to(np.asarray(sh, dtype=np.int64), acc.shape)
    a = acc.astype(object)
    x = (a * m0.astype(object) + (1 << (sh.astype(object) - 1))) >> sh.astype(object)
    x = x + zo
    return np.clip(x, qmin, qmax).astype(np.int64)


def qgemm(a, w, bias, m0, sh, zo, qmin, qmax):
    acc = a.astype(np.int64) @ w.astype(np.int64).T + np.asarray(bias, np.int64)
    return requantize(acc, m0, sh, zo, qmin, qmax), acc


def qconv2d(x, w, bias, m0, sh, zo, stride, padding, dilation, groups, pad_value, qmin, qmax):
    """int16 convolution: the exact window sums + bias, never wrapped (section 13)."""
    acc = conv_accumulate(x, w, stride, padding, dilation, groups, pad_value)
    acc = acc + np.asarray(bias, np.int64)
    return requantize(acc, m0, sh, zo, qmin, qmax), acc
