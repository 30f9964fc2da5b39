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
