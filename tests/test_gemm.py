"""qgemm: every ISA variant bit-exact against the numpy reference of DESIGN.md §3."""
import numpy as np
import pytest

from qengine import kernels as K

import reference as R
from helpers import assert_same, random_requant

# sizes around every tile in use (MR up to 8, NR up to 64, KR up to 16) plus odd primes
EDGE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 97, 128, 129]


def _random_case(rng, m, n, k, sh_spread=True):
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = rng.integers(-2**20, 2**20, size=n).astype(np.int32)
    m0, _ = random_requant(rng, n)
    # shifts that put typical outputs inside int8, spread by a few bits either way
    typical = max(1.0, 60.0 * 60.0 * np.sqrt(k) + 2**19)
    base = 31 + int(np.ceil(np.log2(typical / 64)))
    sh = np.clip(base + rng.integers(-3, 4, size=n), 1, 62).astype(np.int32)
    return a, w, bias, m0, sh


def _check(a, w, bias, m0, sh, zo=0, qmin=-128, qmax=127, num_threads=1):
    want, acc = R.qgemm(a, w, bias, m0, sh, zo, qmin, qmax)
    got = K.qgemm(a, w, bias, m0, sh, zo, qmin=qmin, qmax=qmax, num_threads=num_threads)
    assert got.dtype == np.int8
    assert_same(got, want, acc, isa=K.isa()["selected"], shape=(a.shape[0], w.shape[0],
                a.shape[1]), zo=zo, qmin=qmin, qmax=qmax, threads=num_threads)


@pytest.mark.parametrize("dim", ["m", "n", "k"])
def test_sweep_one_dim_around_tiles(isa, rng, dim):
    for size in EDGE:
        m, n, k = {"m": (size, 19, 37), "n": (7, size, 37), "k": (7, 19, size)}[dim]
        _check(*_random_case(rng, m, n, k), zo=int(rng.integers(-128, 128)))


def test_every_tile_remainder(isa, rng):
    # every row remainder up to 17 (MR up to 16), channel counts around 16-lane columns and
    # NR, and K around KR = 4 and the k-split of the few-row tiles (k blocks mod 2, 3, 4)
    ks = [1, 3, 4, 5, 8, 12, 13, 16, 17, 20, 24, 28, 45, 64, 67]
    ns = [1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65]
    for m in range(1, 18):
        for j, n in enumerate(ns):
            k = ks[(3 * m + j) % len(ks)]
            _check(*_random_case(rng, m, n, k), zo=int(rng.integers(-128, 128)))


def test_random_shapes(isa, rng):
    for _ in range(40):
        m, n, k = (int(v) for v in rng.integers(1, 300, size=3))
        _check(*_random_case(rng, m, n, k), zo=int(rng.integers(-128, 128)))


def test_large_shape_threads(isa, rng):
    case = _random_case(rng, 203, 257, 301)
    for t in (1, 2, 3):
        _check(*case, num_threads=t)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_identical(isa, rng, threads):
    for m, n, k in [(1, 1000, 1280), (3136, 24, 16), (49, 160, 960), (5, 3, 1)]:
        a, w, bias, m0, sh = _random_case(rng, m, n, k)
        one = K.qgemm(a, w, bias, m0, sh, 3, num_threads=1)
        many = K.qgemm(a, w, bias, m0, sh, 3, num_threads=threads)
        assert_same(many, one, threads=threads, shape=(m, n, k))
        assert_same(one, R.qgemm(a, w, bias, m0, sh, 3)[0], shape=(m, n, k))


def test_extreme_values(isa, rng):
    for k in (1, 4, 17, 64, 1000):
        for av, wv in [(-128, -127), (-128, 127), (127, 127), (127, -127)]:
            a = np.full((9, k), av, np.int8)
            w = np.full((21, k), wv, np.int8)
            bias = np.array([0, 2**31 - 1, -2**31, 12345, -12345, 1, -1] * 3, np.int32)
            for m0v in (2**30, 2**31 - 1, 0):
                for shv in (1, 2, 31, 32, 61, 62):
                    m0 = np.full(21, m0v, np.int32)
                    sh = np.full(21, shv, np.int32)
                    _check(a, w, bias, m0, sh, zo=int(rng.integers(-128, 128)))


def test_shift_boundaries(isa, rng):
    # kernels may take a 32-bit path when every shift of a group of channels is in [33, 54]:
    # all-equal shifts on either side of that boundary, and mixed ones, with extreme
    # accumulators (large |bias|) so every rounding and clamp case occurs
    m, n, k = 13, 40, 29
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    for shv in (31, 32, 33, 34, 40, 53, 54, 55, 61, 62, "low", "high"):
        if isinstance(shv, str):
            sh = rng.integers(30, 36, size=n) if shv == "low" else rng.integers(50, 58, size=n)
        else:
            sh = np.full(n, shv)
        for bias_range in (2**8, 2**31):
            bias = rng.integers(-bias_range, bias_range, size=n, dtype=np.int64).astype(np.int32)
            m0 = rng.integers(0, 2**31, size=n, dtype=np.int64).astype(np.int32)
            for zo in (-128, 127, int(rng.integers(-128, 128))):
                _check(a, w, bias, m0, sh.astype(np.int32), zo=zo)
                _check(a, w, bias, m0, sh.astype(np.int32), zo=zo, qmin=max(zo, -128), qmax=127)


def test_wrapping_accumulator(isa):
    # bias near the int32 limit plus a large positive dot product wraps modulo 2^32 (eq. 3)
    a = np.full((2, 300), 127, np.int8)
    w = np.full((3, 300), 127, np.int8)
    bias = np.full(3, 2**31 - 1000, np.int32)
    _check(a, w, bias, np.full(3, 2**30, np.int32), np.full(3, 40, np.int32))


def test_clamps_and_zero_points(isa, rng):
    a, w, bias, m0, sh = _random_case(rng, 37, 41, 53)
    for zo, qmin, qmax in [(-128, -128, 127), (127, -128, 127), (0, 0, 127), (-5, -5, 6),
                           (10, 3, 3), (-128, -128, -128), (127, 127, 127)]:
        _check(a, w, bias, m0, sh, zo, qmin, qmax)


def test_random_per_channel_params_full_range(isa, rng):
    for _ in range(10):
        m, n, k = (int(v) for v in rng.integers(1, 80, size=3))
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
        bias = rng.integers(-2**31, 2**31, size=n, dtype=np.int64).astype(np.int32)
        m0, sh = random_requant(rng, n)
        _check(a, w, bias, m0, sh, int(rng.integers(-128, 128)))


def test_long_k_and_partial_tiles(isa, rng):
    # K around the AVX2 kernel's 512-byte activation chunk, every row count of a 6-row tile,
    # full and partial 8- and 16-channel groups
    for k in (510, 511, 512, 513, 1023, 1025):
        for m, n in [(1, 24), (5, 9), (6, 16), (7, 8), (13, 33)]:
            _check(*_random_case(rng, m, n, k), zo=int(rng.integers(-128, 128)))


def test_requant_near_clamp_any_m0(isa, rng):
    # acc = bias[n] + a[m] sweeps 256 consecutive values around the accumulator that maps to
    # a chosen output t (|t| up to 600, past the clamp) for m0 of every magnitude, m0 = 0 and
    # sh in [1, 62]; exercises the SIMD requantization's shortcuts near the clamp.
    n = 37
    a = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    w = np.ones((n, 1), np.int8)
    for _ in range(30):
        bits = rng.integers(0, 31, size=n)
        m0 = (2**bits + rng.integers(0, 2**bits)).clip(0, 2**31 - 1)
        m0[rng.random(n) < 0.1] = 0
        sh = rng.integers(1, 63, size=n)
        t = rng.integers(-600, 601, size=n).astype(np.float64)
        bias = np.round(t * 2.0**sh / np.maximum(m0, 1))
        bias = bias.clip(-2**31 + 128, 2**31 - 129).astype(np.int32)
        zo = int(rng.integers(-128, 128))
        qmin = int(rng.integers(-128, 128))
        qmax = int(rng.integers(qmin, 128))
        _check(a, w, bias, m0.astype(np.int32), sh.astype(np.int32), zo, qmin, qmax)


def test_empty_and_k_zero(isa):
    w = np.zeros((4, 0), np.int8)
    a = np.zeros((3, 0), np.int8)
    bias = np.array([0, 1000, -1000, 2**20], np.int32)
    _check(a, w, bias, np.full(4, 2**30, np.int32), np.full(4, 10, np.int32))
    out = K.qgemm(np.zeros((0, 5), np.int8), np.ones((4, 5), np.int8), np.zeros(4, np.int32),
                  np.full(4, 2**30, np.int32), np.full(4, 10, np.int32), 0)
    assert out.shape == (0, 4)


def test_non_contiguous_inputs_are_copied(rng):
    a, w, bias, m0, sh = _random_case(rng, 20, 30, 40)
    a_strided = np.asfortranarray(a)
    w_view = np.concatenate([w, w], axis=1)[:, ::2]
    assert not w_view.flags.c_contiguous
    want = R.qgemm(a, w_view, bias, m0, sh, 0)[0]
    assert_same(K.qgemm(a_strided, w_view, bias, m0, sh, 0), want)


# ---- bad input: a clear ValueError, never a crash -------------------------------------

def _good():
    a = np.zeros((2, 3), np.int8)
    w = np.zeros((4, 3), np.int8)
    return dict(a=a, w=w, bias=np.zeros(4, np.int32), m0=np.full(4, 2**30, np.int32),
                sh=np.full(4, 8, np.int32), zo=0)


@pytest.mark.parametrize("change, message", [
    (dict(a=np.zeros((2, 3), np.float32)), "a must have dtype int8"),
    (dict(a=np.zeros((2, 3), np.uint8)), "a must have dtype int8"),
    (dict(a=[[1, 2, 3]]), "a must be a numpy int8 array"),
    (dict(a=np.zeros((2, 5), np.int8)), "K=5"),
    (dict(a=np.zeros((2, 3, 1), np.int8)), "must be 2-D"),
    (dict(w=np.zeros(3, np.int8)), "must be 2-D"),
    (dict(w=np.full((4, 3), -128, np.int8)), r"\[-127, 127\]"),
    (dict(bias=np.zeros(5, np.int32)), r"bias must have shape \(4,\)"),
    (dict(bias=np.zeros(4, np.float32)), "bias must be an integer array"),
    (dict(bias=np.full(4, 2**40)), "bias values must lie in"),
    (dict(m0=np.full(4, -1, np.int32)), "m0 values must lie in"),
    (dict(m0=np.full(4, 2**31)), "m0 values must lie in"),
    (dict(sh=np.zeros(4, np.int32)), r"sh values must lie in \[1, 62\]"),
    (dict(sh=np.full(4, 63, np.int32)), r"sh values must lie in \[1, 62\]"),
    (dict(sh=np.full(3, 8, np.int32)), r"sh must have shape \(4,\)"),
    (dict(zo=128), "zo must lie in"),
    (dict(zo=1.5), "zo must be an integer"),
    (dict(qmin=10, qmax=5), "must not exceed"),
    (dict(qmin=-129), "qmin must lie in"),
    (dict(num_threads=0), "num_threads"),
])
def test_bad_input_raises_value_error(change, message):
    args = {**_good(), **change}
    with pytest.raises(ValueError, match=message):
        K.qgemm(**args)


def test_packed_run_checks_its_arguments():
    g = _good()
    packed = K.pack_gemm(g["w"], g["bias"], g["m0"], g["sh"])
    with pytest.raises(ValueError, match="K=5"):
        packed.run(np.zeros((2, 5), np.int8), 0, -128, 127, 1)
    with pytest.raises(ValueError, match="zo"):
        packed.run(np.zeros((2, 3), np.int8), 300, -128, 127, 1)
    with pytest.raises(ValueError):
        packed.run(np.zeros((2, 3), np.float32), 0, -128, 127, 1)
