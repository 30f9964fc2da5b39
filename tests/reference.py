"""Pure-numpy reference of DESIGN.md section 3 (docs/QUANTIZATION.md), int64 math.

Deliberately written from the equations, not from the C code, so the kernels are
checked against the contract rather than against themselves."""
import numpy as np


def wrap_int32(x):
    """int32 accumulation wraps modulo 2^32 (eq. 3)."""
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32 - 2**31).astype(np.int64)


def requantize(acc, m0, sh, zo, qmin, qmax):
    """eq. 5: clamp(((acc * m0 + 2^(sh-1)) >> sh) + zo, qmin, qmax), per channel (last axis)."""
    acc = np.asarray(acc, dtype=np.int64)
    m0 = np.asarray(m0, dtype=np.int64)
    sh = np.asarray(sh, dtype=np.int64)
    x = (acc * m0 + (np.int64(1) << (sh - 1))) >> sh
    return np.clip(x + zo, qmin, qmax)


def qgemm(a, w, bias, m0, sh, zo, qmin=-128, qmax=127):
    acc = wrap_int32(a.astype(np.int64) @ w.astype(np.int64).T + np.asarray(bias, np.int64))
    return requantize(acc, m0, sh, zo, qmin, qmax).astype(np.int8), acc


def conv_accumulate(x, w, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                    pad_value=0):
    """NHWC x, OHWI w: pad with pad_value and sum every window in int64 (eq. 3 without the
    bias), exactly; shared by the int8 and int16 references."""
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    (sy, sx), (dy, dx), (pt, pl, pb, pr) = stride, dilation, padding
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), pad_value, np.int64)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    ho = (h + pt + pb - dy * (kh - 1) - 1) // sy + 1
    wo = (wd + pl + pr - dx * (kw - 1) - 1) // sx + 1
    og = o // groups
    acc = np.zeros((n, ho, wo, o), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            win = xp[:, ky * dy: ky * dy + sy * (ho - 1) + 1: sy,
                     kx * dx: kx * dx + sx * (wo - 1) + 1: sx, :]
            for g in range(groups):
                wg = w[g * og:(g + 1) * og, ky, kx, :].astype(np.int64)  # [og, cg]
                acc[..., g * og:(g + 1) * og] += win[..., g * cg:(g + 1) * cg] @ wg.T
    return acc


def qconv2d(x, w, bias, m0, sh, zo, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
            groups=1, pad_value=0, qmin=-128, qmax=127):
    """int8 convolution: window sums (conv_accumulate) + bias, wrapped to int32, requantized."""
    acc = conv_accumulate(x, w, stride, padding, dilation, groups, pad_value)
    acc = wrap_int32(acc + np.asarray(bias, np.int64))
    return requantize(acc, m0, sh, zo, qmin, qmax).astype(np.int8), acc
