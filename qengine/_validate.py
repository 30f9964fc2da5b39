"""Argument checks shared by every public kernel: nothing reaches C unchecked.

Each helper returns a C-contiguous array of the exact dtype the C side reads (copying a
non-contiguous input) or raises ValueError naming the argument and what was expected."""
import numbers

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
M0_MAX = 2**31 - 1


def int8_array(name, x, ndim, weights=False):
    """int8 array of `ndim` dimensions; weights must lie in [-127, 127] (DESIGN.md §3)."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy int8 array, got {type(x).__name__}")
    if x.dtype != np.int8:
        raise ValueError(f"{name} must have dtype int8, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if weights and x.size and x.min() < -127:
        raise ValueError(f"{name} holds -128; int8 weights must lie in [-127, 127]")
    return np.ascontiguousarray(x)


def int_vector(name, x, length, lo, hi):
    """A 1-D integer vector of `length` values in [lo, hi], returned as int32."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {arr.shape}")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} values must lie in [{lo}, {hi}], got "
                         f"[{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.int32)


def int_scalar(name, v, lo, hi):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {v}")
    return int(v)


def clamp(qmin, qmax, lo=INT8_MIN, hi=INT8_MAX):
    qmin = int_scalar("qmin", qmin, lo, hi)
    qmax = int_scalar("qmax", qmax, lo, hi)
    if qmin > qmax:
        raise ValueError(f"qmin ({qmin}) must not exceed qmax ({qmax})")
    return qmin, qmax


def threads(num_threads):
    return int_scalar("num_threads", num_threads, 1, 64)


def requant(n, m0, sh):
    """Per-channel multiplier m0 in [0, 2^31) and shift sh in [1, 62] (DESIGN.md §3)."""
    return int_vector("m0", m0, n, 0, M0_MAX), int_vector("sh", sh, n, 1, 62)
