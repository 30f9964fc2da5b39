"""Pure-numpy reference of the 16x8 kernels (docs/QUANTIZATION.md section 13), written from
the equations: sums are exact (int64 numpy, far from overflow for the tested sizes) and
eq. 5 is evaluated on Python integers, so no intermediate can wrap."""
import numpy as np

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
                wg = w[g * og:(g + 1) * og, ky, kx, :].astype(np.int64)
                acc[..., g * og:(g + 1) * og] += win[..., g * cg:(g + 1) * cg] @ wg.T
    acc = acc + np.asarray(bias, np.int64)
    return requantize(acc, m0, sh, zo, qmin, qmax), acc
