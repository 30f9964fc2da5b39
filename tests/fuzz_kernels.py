"""Fuzz every qengine.kernels function: hypothesis draws shapes (0 and 1 included),
strides (sliced, transposed, reversed views), dtypes and parameter values (in range, at
the edges, and out of range). Each call ends in ValueError or in exactly the numpy
reference's result (tests/reference.py, tests/reference_ops.py), on a drawn ISA variant
and thread count. Never a crash: tests/test_fuzz.py runs this in a subprocess.

    python tests/fuzz_kernels.py [EXAMPLES_PER_FUNCTION]
QENGINE_TEST_ISA=<variant> restricts the variants drawn."""
import math
import os
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qengine import kernels as K  # noqa: E402

import reference as R  # noqa: E402
import reference_ops as RO  # noqa: E402
from fuzz_common import limit_memory, report, seeded  # noqa: E402

COUNTS = {}
VARIANTS = K.isa()["available"]
if os.environ.get("QENGINE_TEST_ISA"):
    VARIANTS = [os.environ["QENGINE_TEST_ISA"].strip().lower()]
WRONG_DTYPES = [np.int16, np.uint8, np.int32, np.float32, np.float64, np.bool_]


# ---- drawing arguments -------------------------------------------------------------------

def rng_of(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def layout(data, x):
    """The same values as a contiguous array, a strided slice, a transposed copy seen
    transposed back, or a reversed view."""
    how = data.draw(st.sampled_from(["c", "c", "slice", "fortran", "reversed"]), label="layout")
    if how == "slice" and x.ndim:
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1] + 1,), x.dtype)
        big[..., 1::2][..., :x.shape[-1]] = x
        return big[..., 1::2][..., :x.shape[-1]]
    if how == "fortran":
        return np.asfortranarray(x).reshape(x.shape)  # (asfortranarray makes 0-d 1-d)
    if how == "reversed" and x.ndim:
        return np.ascontiguousarray(x[::-1])[::-1]
    return x


def int8s(data, rng, shape, lo=-128, hi=127, name="x"):
    """int8 values of `shape`: uniform, all-equal edge values, or mixed extremes."""
    fill = data.draw(st.sampled_from(["uniform", "min", "max", "zero", "extremes"]),
                     label=f"{name} fill")
    if fill == "uniform":
        x = rng.integers(lo, hi + 1, size=shape)
    elif fill == "extremes":
        x = rng.choice([lo, hi, 0, lo + 1, hi - 1], size=shape)
    else:
        x = np.full(shape, {"min": lo, "max": hi, "zero": 0}[fill])
    return layout(data, x.astype(np.int8))


def maybe_wrong(data, x, p_name, also_valid=()):
    """Now and then a wrong dtype: the call must then raise ValueError. also_valid: dtypes
    the function takes too (int16 activations of qgemm and qconv2d): never drawn."""
    if Mostly(st.just(False), st.just(True), 20).draw(data, f"{p_name} wrong dtype"):
        wrong = [d for d in WRONG_DTYPES if d not in also_valid]
        return x.astype(data.draw(st.sampled_from(wrong))), True
    return x, False


def requant(data, rng, n):
    m0 = rng.integers(0, 2**31, size=n)
    if data.draw(st.booleans(), label="m0 normal"):
        m0 = rng.integers(2**30, 2**31, size=n)
    sh = rng.integers(1, 63, size=n)
    bad = Mostly(st.just(""), st.sampled_from(["sh0", "sh63", "m0neg", "len"]),
                 16).draw(data, "requant edit")
    if n and bad == "sh0":
        sh[0] = 0
    elif n and bad == "sh63":
        sh[0] = 63
    elif n and bad == "m0neg":
        m0[0] = -1
    elif bad == "len":
        m0 = np.append(m0, 2**30)
    return m0.astype(np.int64), sh.astype(np.int32), bad == "len" or (n > 0 and bad != "")


class Mostly:
    """A strategy that draws from `usual`, and one time in `odds` from `rare` (hypothesis's
    one_of would pick each half of the time, and most cases would be refused)."""

    def __init__(self, usual, rare, odds=10):
        self.usual, self.rare, self.odds = usual, rare, odds

    def draw(self, data, label):
        # a middle band: hypothesis favours the ends of an integer range
        roll = data.draw(st.integers(0, 999), label=f"{label} roll")
        rare = 500 <= roll < 500 + 1000 // self.odds
        return data.draw(self.rare if rare else self.usual, label=label)


ZPS = Mostly(st.integers(-128, 127), st.sampled_from([-128, 127, -129, 128, 1000]))
SCALES = Mostly(st.floats(2.0**-8, 2.0**4), st.sampled_from(
    [1.0, 0.5, 2.0**-20, 2.0**20, 0.0, -1.0, math.nan, math.inf, 1e-40, 1e39]))
THREADS = Mostly(st.integers(1, 4), st.sampled_from([0, 65]), odds=20)


def clamp_pair(data):
    qmin = Mostly(st.integers(-128, 127), st.sampled_from([-129, 128]), 20).draw(data, "qmin")
    qmax = Mostly(st.integers(max(-128, min(qmin, 127)), 127),
                  st.sampled_from([-129, 128, qmin - 1]), 20).draw(data, "qmax")
    return qmin, qmax


# ---- checking ------------------------------------------------------------------------------

def check(name, call, reference, must_fail=False):
    """call() must raise ValueError, or return exactly reference(); must_fail: only the
    former."""
    try:
        got = call()
    except ValueError as exc:
        COUNTS[f"{name}:refused"] = COUNTS.get(f"{name}:refused", 0) + 1
        if os.environ.get("QENGINE_FUZZ_DEBUG"):
            print(f"{name} refused: {str(exc)[:90]}")
        return
    assert not must_fail, f"{name}: invalid arguments were accepted"
    want = reference()
    if isinstance(want, np.ndarray) and want.dtype == np.float32:
        assert got.dtype == want.dtype and got.shape == want.shape, (got.shape, want.shape)
        assert np.array_equal(got, want, equal_nan=True), f"{name}: differs from reference"
    else:
        want = np.asarray(want)
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
        bad = np.argwhere(got != want)
        assert not bad.size, (f"{name}: {len(bad)} values differ, first at {tuple(bad[0])}: "
                              f"got {got[tuple(bad[0])]}, want {want[tuple(bad[0])]}")
    COUNTS[f"{name}:ok"] = COUNTS.get(f"{name}:ok", 0) + 1


def on_variant(data):
    return K.use_isa(data.draw(st.sampled_from(VARIANTS), label="isa"))


# ---- one fuzz function per kernel -------------------------------------------------------------

def fuzz_qgemm(data):
    rng = rng_of(data)
    m, n, k = (data.draw(st.one_of(st.integers(0, 3), st.integers(4, 40)), label=d)
               for d in "MNK")
    a = int8s(data, rng, (m, k), name="a")
    w = int8s(data, rng, (n, k), -127, 127, name="w")
    if n * k and Mostly(st.just(False), st.just(True)).draw(data, "w -128"):
        w = w.copy()
        w.flat[0] = -128
    bias = rng.integers(-2**31, 2**31, size=n) if data.draw(st.booleans()) \
        else rng.integers(-5000, 5000, size=n)
    m0, sh, bad = requant(data, rng, n)
    zo = ZPS.draw(data, "zo")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    a, wrong = maybe_wrong(data, a, "a", also_valid=(np.int16,))
    bad = bad or wrong or (w.size and w.min() < -127)
    with on_variant(data):
        check("qgemm", lambda: K.qgemm(a, w, bias, m0, sh, zo, qmin, qmax, threads),
              lambda: R.qgemm(a, w, bias, m0, sh, zo, qmin, qmax)[0], must_fail=bad)
    if not bad and a.shape[0] and data.draw(st.booleans(), label="packed K mismatch"):
        packed = K.pack_gemm(w, bias, m0, sh)
        a2 = np.zeros((m, k + 1), np.int8)
        check("pack_gemm.run", lambda: packed.run(a2, 0, -128, 127, 1), lambda: None,
              must_fail=True)


def fuzz_qconv2d(data):
    rng = rng_of(data)
    groups = data.draw(st.sampled_from([1, 1, 2, 3]), label="groups")
    cg = data.draw(st.integers(1, 4), label="C/groups")
    c = cg * groups
    depthwise = data.draw(st.booleans(), label="depthwise")
    if depthwise:
        groups, cg = c, 1
    o = groups * data.draw(st.integers(1, 3), label="O/groups")
    nb = data.draw(st.sampled_from([1, 2, 0]), label="N")
    h, wd = (Mostly(st.integers(1, 7), st.just(0)).draw(data, d) for d in "HW")
    kh, kw = (data.draw(st.integers(1, 4), label=d) for d in ("kh", "kw"))
    stride = tuple(data.draw(st.integers(1, 3), label="stride") for _ in range(2))
    dil = tuple(data.draw(st.integers(1, 2), label="dilation") for _ in range(2))
    pad = tuple(data.draw(st.integers(0, 2), label="pad") for _ in range(4))
    if data.draw(st.booleans(), label="unpadded"):
        pad = (0, 0, 0, 0)
    x = int8s(data, rng, (nb, h, wd, c), name="x")
    w = int8s(data, rng, (o, kh, kw, cg), -127, 127, name="w")
    bias = rng.integers(-2**20, 2**20, size=o)
    m0, sh, bad = requant(data, rng, o)
    zo, pv = ZPS.draw(data, "zo"), ZPS.draw(data, "pad_value")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x", also_valid=(np.int16,))
    ho = (h + pad[0] + pad[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pad[1] + pad[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    bad = bad or wrong or ho <= 0 or wo <= 0 or min(h, wd) == 0
    generic = data.draw(st.booleans(), label="generic path")
    os.environ["QENGINE_CONV_GENERIC"] = "1" if generic else "0"
    with on_variant(data):
        check("qconv2d", lambda: K.qconv2d(x, w, bias, m0, sh, zo, stride, pad, dil, groups,
                                           pv, qmin, qmax, threads),
              lambda: R.qconv2d(x, w, bias, m0, sh, zo, stride, pad, dil, groups, pv,
                                qmin, qmax)[0], must_fail=bad)


def pool_args(data, rng):
    nb = data.draw(st.sampled_from([1, 2, 0]), label="N")
    h, wd, c = (Mostly(st.integers(1, 7), st.just(0)).draw(data, d) for d in "HWC")
    x = int8s(data, rng, (nb, h, wd, c))
    kernel = tuple(Mostly(st.integers(1, 3), st.integers(0, 6)).draw(data, "kernel")
                   for _ in range(2))
    stride = tuple(Mostly(st.integers(1, 3), st.just(0), 20).draw(data, "stride")
                   for _ in range(2))
    odd = Mostly(st.just(False), st.just(True), 5).draw(data, "odd padding")
    pad = tuple(data.draw(st.integers(0, 4 if odd else max(0, kernel[i % 2] - 1)),
                          label="pad") for i in range(4))
    valid = (min(kernel) >= 1 and min(stride) >= 1 and max(pad[0], pad[2]) < kernel[0]
             and max(pad[1], pad[3]) < kernel[1] and h + pad[0] + pad[2] >= kernel[0]
             and wd + pad[1] + pad[3] >= kernel[1] and h >= 1 and wd >= 1)
    return x, kernel, stride, pad, valid


def fuzz_maxpool2d(data):
    rng = rng_of(data)
    x, kernel, stride, pad, valid = pool_args(data, rng)
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("maxpool2d", lambda: K.maxpool2d(x, kernel, stride, pad, qmin, qmax, threads),
              lambda: RO.maxpool2d(x, kernel, stride, pad, qmin, qmax),
              must_fail=wrong or not valid)


def fuzz_avgpool2d(data):
    rng = rng_of(data)
    x, kernel, stride, pad, valid = pool_args(data, rng)
    sx, sy = SCALES.draw(data, "sx"), SCALES.draw(data, "sy")
    zx, zy = ZPS.draw(data, "zx"), ZPS.draw(data, "zy")
    cip = data.draw(st.booleans(), label="count_include_pad")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("avgpool2d", lambda: K.avgpool2d(x, kernel, sx, zx, sy, zy, stride, pad, cip,
                                               qmin, qmax, threads),
              lambda: RO.avgpool2d(x, kernel, stride, pad, sx, zx, sy, zy, cip, qmin, qmax),
              must_fail=wrong or not valid)


def fuzz_global_avgpool(data):
    rng = rng_of(data)
    shape = tuple(Mostly(st.integers(1, 6), st.just(0)).draw(data, "dim") for _ in range(4))
    x = int8s(data, rng, shape)
    sx, sy = SCALES.draw(data, "sx"), SCALES.draw(data, "sy")
    zx, zy = ZPS.draw(data, "zx"), ZPS.draw(data, "zy")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("global_avgpool", lambda: K.global_avgpool(x, sx, zx, sy, zy, qmin, qmax,
                                                         threads),
              lambda: RO.global_avgpool(x, sx, zx, sy, zy, qmin, qmax),
              must_fail=wrong or shape[1] * shape[2] == 0)


def broadcast_pair(data, rng):
    nd = data.draw(st.integers(0, 5), label="ndim")
    full = [data.draw(st.sampled_from([0, 1, 2, 3, 5, 17]), label="dim") for _ in range(nd)]

    def variant(name):
        keep = data.draw(st.integers(0, nd), label=f"{name} ndim")
        shape = [d if data.draw(st.integers(0, 3), label="bcast") else 1
                 for d in full[nd - keep:]]
        if shape and Mostly(st.just(False), st.just(True), 16).draw(data, "mismatch"):
            shape[-1] += 1   # usually does not broadcast: must be refused
        return int8s(data, rng, tuple(shape), name=name)

    return variant("a"), variant("b")


def fuzz_add_mul(data, op):
    rng = rng_of(data)
    a, b = broadcast_pair(data, rng)
    sa, sb, sy = (SCALES.draw(data, s) for s in ("sa", "sb", "sy"))
    za, zb, zy = (ZPS.draw(data, s) for s in ("za", "zb", "zy"))
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    a, wrong = maybe_wrong(data, a, "a")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        wrong = True
    kfn, rfn = (K.add, RO.add) if op == "add" else (K.mul, RO.mul)
    with on_variant(data):
        check(op, lambda: kfn(a, b, sa, za, sb, zb, sy, zy, qmin, qmax, threads),
              lambda: rfn(a, b, sa, za, sb, zb, sy, zy, qmin, qmax), must_fail=wrong)


def fuzz_concat(data):
    rng = rng_of(data)
    lead = tuple(data.draw(st.integers(0, 4), label="lead") for _ in range(
        data.draw(st.integers(0, 3), label="lead ndim")))
    count = data.draw(st.integers(1, 4), label="inputs")
    xs = [int8s(data, rng, lead + (data.draw(st.integers(0, 5), label="C"),), name="xs")
          for _ in range(count)]
    same = data.draw(st.booleans(), label="same quantization")
    sy, zy = SCALES.draw(data, "sy"), ZPS.draw(data, "zy")
    scales = [sy if same else SCALES.draw(data, "s") for _ in xs]
    zps = [zy if same else ZPS.draw(data, "z") for _ in xs]
    threads = THREADS.draw(data, "threads")
    xs[0], wrong = maybe_wrong(data, xs[0], "xs[0]")
    with on_variant(data):
        check("concat", lambda: K.concat(xs, scales, zps, sy, zy, threads),
              lambda: RO.concat(xs, scales, zps, sy, zy), must_fail=wrong)


def any_shape(data):
    return tuple(data.draw(st.sampled_from([0, 1, 2, 3, 7, 33, 70]), label="dim")
                 for _ in range(Mostly(st.integers(1, 3), st.just(0)).draw(data, "ndim")))


def fuzz_lut(data):
    rng = rng_of(data)
    x = int8s(data, rng, any_shape(data))
    n = Mostly(st.just(256), st.sampled_from([0, 255, 257])).draw(data, "table size")
    table = rng.integers(-128, 128, size=n).astype(np.int8)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("lut", lambda: K.lut(x, table, threads), lambda: RO.lut(x, table),
              must_fail=wrong or n != 256)


def fuzz_requantize(data):
    rng = rng_of(data)
    x = int8s(data, rng, any_shape(data))
    sx, sy = SCALES.draw(data, "sx"), SCALES.draw(data, "sy")
    zx, zy = ZPS.draw(data, "zx"), ZPS.draw(data, "zy")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("requantize", lambda: K.requantize(x, sx, zx, sy, zy, qmin, qmax, threads),
              lambda: RO.requantize_op(x, sx, zx, sy, zy, qmin, qmax), must_fail=wrong)


def fuzz_quantize(data):
    rng = rng_of(data)
    shape = any_shape(data)
    x = (rng.normal(0, 10.0 ** data.draw(st.integers(-3, 6), label="magnitude"), size=shape)
         .astype(np.float32))
    if x.size:
        special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, -3.4e38, 1e-45, 0.5, -0.5]
        idx = rng.integers(0, x.size, size=data.draw(st.integers(0, 8), label="specials"))
        x.flat[idx] = rng.choice(special, size=idx.size)
    x = layout(data, x)
    scale, zp = SCALES.draw(data, "scale"), ZPS.draw(data, "zp")
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("quantize", lambda: K.quantize(x, scale, zp, threads),
              lambda: RO.quantize(x, scale, zp), must_fail=wrong and x.dtype != np.float32)


def fuzz_dequantize(data):
    rng = rng_of(data)
    x = int8s(data, rng, any_shape(data))
    scale, zp = SCALES.draw(data, "scale"), ZPS.draw(data, "zp")
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("dequantize", lambda: K.dequantize(x, scale, zp, threads),
              lambda: RO.dequantize(x, scale, zp), must_fail=wrong)


def fuzz_softmax(data):
    rng = rng_of(data)
    shape = any_shape(data)
    x = int8s(data, rng, shape)
    sx = SCALES.draw(data, "sx")
    as_int8 = data.draw(st.booleans(), label="int8 out")
    threads = THREADS.draw(data, "threads")
    x, wrong = maybe_wrong(data, x, "x")
    with on_variant(data):
        check("softmax", lambda: K.softmax(x, sx, np.int8 if as_int8 else np.float32, threads),
              lambda: RO.softmax(x, sx, as_int8) if x.size else
              np.zeros(shape, np.int8 if as_int8 else np.float32), must_fail=wrong or not shape)


def fuzz_spmm_csr(data):
    rng = rng_of(data)
    m, n, k = (data.draw(st.one_of(st.integers(0, 3), st.integers(4, 40)), label=d)
               for d in "MNK")
    a = int8s(data, rng, (m, k), name="a")
    w = int8s(data, rng, (n, k), -127, 127, name="w")
    w = np.where(rng.random((n, k)) < data.draw(st.floats(0, 1), label="density"), w, 0)
    w = w.astype(np.int8)
    indptr, indices, values = K.dense_to_csr(w)
    if data.draw(st.booleans(), label="int32 indices"):
        indices = indices.astype(np.int32)
    bias = rng.integers(-2**31, 2**31, size=n)
    m0, sh, bad = requant(data, rng, n)
    zo = ZPS.draw(data, "zo")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    edit = Mostly(st.just(""), st.sampled_from(
        ["ptr_last", "ptr_down", "idx_big", "idx_neg", "vals_short", "ptr_len", "k"]),
        5).draw(data, "csr edit")
    indptr, indices, values = indptr.copy(), indices.copy(), values.copy()
    kk = k
    if edit == "ptr_last":
        indptr[-1] += 1
    elif edit == "ptr_down" and n >= 2 and indptr[-1] > 0:
        indptr[1:-1] = indptr[-1]
        indptr[1] = indptr[-1] + 1  # decreasing after it
    elif edit == "idx_big" and indices.size:
        indices[0] = k
    elif edit == "idx_neg" and indices.size:
        indices = indices.astype(np.int32)
        indices[0] = -1
    elif edit == "vals_short" and values.size:
        values = values[:-1]
    elif edit == "ptr_len":
        indptr = np.append(indptr, indptr[-1])
    elif edit == "k":
        kk = k + 1
    else:
        edit = ""
    with on_variant(data):
        check("spmm_csr", lambda: K.spmm_csr(a, indptr, indices, values, kk, bias, m0, sh, zo,
                                             qmin, qmax, threads),
              lambda: R.qgemm(a, w, bias, m0, sh, zo, qmin, qmax)[0],
              must_fail=bad or edit != "")


def fuzz_spmm_kblock(data):
    """The 1x4 K-blocked format: pack_spmm_kblock, then run (A [M, K]),
    run_channel_major (A^T [K, M] -> C^T [N, M]) or run_blocked (the blocked layout), with
    now and then a malformed block structure or activations of the wrong K."""
    rng = rng_of(data)
    m, n, k = (data.draw(st.one_of(st.integers(0, 3), st.integers(4, 80)), label=d)
               for d in "MNK")
    a = np.ascontiguousarray(int8s(data, rng, (m, k), name="a"))
    w = K.kblock_prune(np.ascontiguousarray(int8s(data, rng, (n, k), -127, 127, name="w")),
                       data.draw(st.floats(0, 1), label="block sparsity"))
    kptr, kidx, kvals = (x.copy() for x in K.dense_to_kblock(w))
    bias = rng.integers(-2**31, 2**31, size=n)
    m0, sh, bad = requant(data, rng, n)
    zo = ZPS.draw(data, "zo")
    qmin, qmax = clamp_pair(data)
    threads = THREADS.draw(data, "threads")
    mv = data.draw(st.booleans(), label="mv section")
    layout = data.draw(st.sampled_from(["rows", "channel-major", "blocked"]), label="layout")
    edit = Mostly(st.just(""), st.sampled_from(
        ["ptr_last", "idx_big", "past_k", "vals_cols", "a_k"]), 5).draw(data, "kblock edit")
    last = np.flatnonzero(kidx == (k - 1) // 4) if k % 4 else np.array([], int)
    if edit == "ptr_last":
        kptr[-1] += 1
    elif edit == "idx_big" and kidx.size:
        kidx[0] = -(-k // 4)
    elif edit == "past_k" and last.size:
        kvals[last[0], 3] = 1  # a weight in the last block's columns past K
    elif edit == "vals_cols":
        kvals = np.ascontiguousarray(kvals[:, :3])
    elif edit == "a_k":
        a = np.ascontiguousarray(int8s(data, rng, (m, k + 1), name="a"))
    else:
        edit = ""

    def call():
        p = K.pack_spmm_kblock(kptr, kidx, kvals, n, k, bias, m0, sh, mv=mv)
        if layout == "channel-major":
            return p.run_channel_major(np.ascontiguousarray(a.T), zo, qmin, qmax, threads)
        if layout == "blocked":
            return p.run_blocked(K.to_blocked(np.ascontiguousarray(a.T)), zo, qmin, qmax,
                                 threads)
        return p.run(a, zo, qmin, qmax, threads)

    def reference():
        want = R.qgemm(a[:, :k], w, bias, m0, sh, zo, qmin, qmax)[0]
        if layout == "blocked":
            return K.to_blocked(np.ascontiguousarray(want.T))
        return np.ascontiguousarray(want.T) if layout == "channel-major" else want

    # the blocked layout only sees K in groups of 4: a K + 1 that fills the last group's
    # padding is a valid input (that channel has weight 0)
    same_groups = edit == "a_k" and layout == "blocked" and -(-k // 4) == -(-(k + 1) // 4)
    with on_variant(data):
        check("spmm_kblock", call, reference,
              must_fail=bad or (edit != "" and not same_groups))


FUZZERS = {
    "qgemm": fuzz_qgemm, "qconv2d": fuzz_qconv2d, "maxpool2d": fuzz_maxpool2d,
    "avgpool2d": fuzz_avgpool2d, "global_avgpool": fuzz_global_avgpool,
    "add": lambda d: fuzz_add_mul(d, "add"), "mul": lambda d: fuzz_add_mul(d, "mul"),
    "concat": fuzz_concat, "lut": fuzz_lut, "requantize": fuzz_requantize,
    "quantize": fuzz_quantize, "dequantize": fuzz_dequantize, "softmax": fuzz_softmax,
}
if hasattr(K, "spmm_csr"):
    FUZZERS["spmm_csr"] = fuzz_spmm_csr
    FUZZERS["spmm_kblock"] = fuzz_spmm_kblock


def main(examples, only=None):
    limit_memory()
    np.seterr(all="ignore")
    for name, fn in FUZZERS.items():
        if only and name not in only:
            continue
        test = seeded(settings(max_examples=examples, deadline=None, database=None,
                               suppress_health_check=list(HealthCheck))(given(st.data())(fn)))
        test()
    # every function must have computed real results, not only refused
    report("kernels", COUNTS)
    computed = {k.split(":")[0] for k in COUNTS if k.endswith(":ok")}
    missing = {n for n in FUZZERS if not only or n in only} - computed
    assert not missing, f"no valid case was ever computed for {sorted(missing)}"


if __name__ == "__main__":
    # python tests/fuzz_kernels.py [NAME ...] EXAMPLES
    main(int(sys.argv[-1]) if len(sys.argv) > 1 else 60, sys.argv[1:-1] or None)
