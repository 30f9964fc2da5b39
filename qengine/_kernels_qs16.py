"""int16 activations x int8 weights ("16x8", docs/QUANTIZATION.md section 13), on numpy
arrays. Re-exported by qengine.kernels; K.qgemm and K.qconv2d forward int16 inputs here.

Activations are int16 (zero points 0 in the fixed scheme, any int16 value accepted);
weights int8 in [-127, 127]; bias int64 with |bias| <= 2^40; accumulation is exact (int32
when eq. 21 proves it safe, else int64, chosen at packing). Outputs int16 by default,
int8 with out_dtype=np.int8 (a 16-bit layer feeding an 8-bit one). Every argument is
validated (ValueError) before anything reaches C."""
import numpy as np

from qengine import _native
from qengine import _validate as V

__all__ = ["qgemm16", "pack_gemm16", "INT16_MIN", "INT16_MAX", "BIAS16_MAX"]

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
