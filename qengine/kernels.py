"""Every qengine kernel on numpy arrays (DESIGN.md sections 2 and 3).

The functions validate all arguments, then call the C kernel of the selected ISA variant
with the GIL released. The variant is chosen once at import (fastest this CPU runs);
QENGINE_ISA=<name> forces one, and `use_isa(name)` switches it for a block of code.
"""
import contextlib
import os

import numpy as np

from qengine import _native
from qengine import _validate as V

__all__ = ["isa", "use_isa", "qgemm", "pack_gemm"]


def isa():
    """{"available": variants this CPU can run, "selected": the one in use,
    "compiled": variants in this build}."""
    return {"available": _native.isa_available(), "selected": _native.isa_selected(),
            "compiled": _native.isa_compiled()}


@contextlib.contextmanager
def use_isa(name):
    """Run a block with ISA variant `name` (ValueError if this CPU cannot run it)."""
    previous = _native.isa_selected()
    _native.isa_select(name)
    try:
        yield
    finally:
        _native.isa_select(previous)


def _select_from_env():
    forced = os.environ.get("QENGINE_ISA", "").strip().lower()
    if forced:
        try:
            _native.isa_select(forced)
        except ValueError as exc:
            raise ValueError(f"QENGINE_ISA={forced}: {exc}") from None


def pack_gemm(w, bias, m0, sh):
    """Pack int8 weights W [N, K] with bias/m0/sh once for the selected variant's GEMM
    kernel. The result's .run(a, zo, qmin, qmax, num_threads) is the fast path that the
    runtime uses; qgemm() below packs and runs in one call."""
    w = V.int8_array("w", w, 2, weights=True)
    n = w.shape[0]
    bias = V.int_vector("bias", bias, n, -2**31, 2**31 - 1)
    m0, sh = V.requant(n, m0, sh)
    return _native.PackedGemm(w, bias, m0, sh, _native.isa_selected())


def qgemm(a, w, bias, m0, sh, zo, qmin=None, qmax=None, num_threads=1, **kw):
    """int8 [M, N] = requant(bias[n] + sum_k a[m, k] * w[n, k]) (DESIGN.md §3).

    a int8 [M, K]; w int8 [N, K] with values in [-127, 127]; bias int32 [N] (activation
    zero point already folded in); m0 in [0, 2^31) and sh in [1, 62] per channel; zo the
    output zero point; qmin/qmax the fused clamp (default: the output type's range).
    int16 a runs the 16x8 GEMM (qgemm16: int16 output, int64 bias, out_dtype=...)."""
    if isinstance(a, np.ndarray) and a.dtype == np.int16:
        return qgemm16(a, w, bias, m0, sh, zo, qmin, qmax, num_threads, **kw)
    if kw:
        raise ValueError(f"unexpected arguments for int8 qgemm: {sorted(kw)}")
    qmin, qmax = V.INT8_MIN if qmin is None else qmin, V.INT8_MAX if qmax is None else qmax
    a = V.int8_array("a", a, 2)
    w = V.int8_array("w", w, 2, weights=True)
    if a.shape[1] != w.shape[1]:
        raise ValueError(f"a has K={a.shape[1]} columns but w has K={w.shape[1]} "
                         f"(w is [N, K], one row per output channel)")
    zo = V.int_scalar("zo", zo, V.INT8_MIN, V.INT8_MAX)
    qmin, qmax = V.clamp(qmin, qmax)
    num_threads = V.threads(num_threads)
    return pack_gemm(w, bias, m0, sh).run(a, zo, qmin, qmax, num_threads)


_select_from_env()
from qengine._kernels_ops import *  # noqa
from qengine._kernels_conv import *  # noqa
from qengine._kernels_sparse import *  # noqa
from qengine._kernels_qs16 import *  # noqa
