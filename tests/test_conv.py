"""qconv2d: every ISA variant and every path bit-exact against the numpy reference."""
import numpy as np
import pytest

from qengine import kernels as K

import reference as R
from helpers import assert_same, random_requant


def _case(rng, n, h, w, c, o, kh, kw, groups=1, stride=(1, 1), padding=(0, 0, 0, 0),
          dilation=(1, 1)):
    x = rng.integers(-128, 128, size=(n, h, w, c), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(o, kh, kw, c // groups), dtype=np.int8)
    bias = rng.integers(-2**16, 2**16, size=o).astype(np.int32)
    m0, _ = random_requant(rng, o)
    k = kh * kw * c // groups
    typical = max(1.0, 60.0 * 60.0 * np.sqrt(k) + 2**16)
    base = 31 + int(np.ceil(np.log2(typical / 64)))
    sh = np.clip(base + rng.integers(-3, 4, size=o), 1, 62).astype(np.int32)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                pad_value=int(rng.integers(-128, 128)))
    return (x, wt, bias, m0, sh), args


def _check(case, args, zo=5, qmin=-128, qmax=127, num_threads=1, monkeypatch=None):
    (x, w, bias, m0, sh) = case
    want, acc = R.qconv2d(x, w, bias, m0, sh, zo, qmin=qmin, qmax=qmax, **args)
    got = K.qconv2d(x, w, bias, m0, sh, zo, qmin=qmin, qmax=qmax, num_threads=num_threads,
                    **args)
    assert got.dtype == np.int8
    path = K.pack_conv2d(w, bias, m0, sh, **args).path
    assert_same(got, want, acc, isa=K.isa()["selected"], path=path, x=x.shape, w=w.shape,
                threads=num_threads, **args)
    return got


# (n, h, w, c, o, kh, kw, groups, stride, padding, dilation)
SHAPES = [
    (1, 1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    (2, 5, 7, 3, 8, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),        # 1x1 GEMM path
    (1, 9, 9, 17, 7, 1, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1)),       # 1x1 stride 2
    (1, 7, 6, 7, 17, 1, 1, 1, (1, 1), (1, 0, 0, 1), (1, 1)),       # 1x1 padded
    (2, 8, 8, 3, 16, 3, 3, 1, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 11, 13, 3, 32, 3, 3, 1, (2, 2), (0, 0, 1, 1), (1, 1)),     # TF SAME, odd, stride 2
    (1, 9, 10, 7, 5, 5, 5, 1, (1, 1), (2, 1, 2, 3), (1, 1)),
    (1, 12, 12, 4, 9, 7, 7, 1, (2, 2), (3, 3, 3, 3), (1, 1)),
    (1, 10, 9, 5, 6, 3, 3, 1, (1, 1), (2, 2, 2, 2), (2, 2)),       # dilation 2
    (1, 6, 8, 6, 4, 1, 3, 1, (1, 2), (0, 1, 0, 1), (1, 1)),        # 1x3
    (2, 7, 7, 8, 12, 3, 3, 2, (1, 1), (1, 1, 1, 1), (1, 1)),       # grouped
    (1, 9, 9, 12, 9, 3, 3, 3, (2, 1), (1, 0, 1, 2), (1, 2)),       # grouped, odd
    (1, 1, 1, 17, 17, 3, 3, 17, (1, 1), (1, 1, 1, 1), (1, 1)),     # depthwise, 1x1 image
]
DW = [  # (n, h, w, c, mult, k, stride, padding, dilation)
    (1, 8, 8, 16, 1, 3, 1, (1, 1, 1, 1), 1),
    (2, 9, 7, 17, 1, 3, 2, (0, 0, 1, 1), 1),
    (1, 12, 11, 3, 1, 3, 1, (1, 1, 1, 1), 1),
    (1, 13, 13, 7, 1, 5, 2, (2, 2, 2, 2), 1),
    (1, 10, 10, 40, 1, 5, 1, (1, 2, 3, 2), 1),
    (1, 15, 15, 33, 1, 7, 1, (3, 3, 3, 3), 1),
    (1, 10, 9, 24, 2, 3, 1, (1, 1, 1, 1), 1),                      # multiplier 2
    (1, 11, 11, 5, 2, 3, 2, (2, 2, 2, 2), 2),                      # dilation 2, mult 2
    (1, 9, 9, 100, 1, 3, 1, (0, 0, 0, 0), 1),
    (1, 6, 20, 65, 1, 1, 1, (0, 0, 0, 0), 1),                      # 1x1 depthwise
    (3, 5, 4, 2, 3, 2, 1, (0, 1, 1, 0), 1),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes(isa, rng, shape):
    n, h, w, c, o, kh, kw, g, s, p, d = shape
    case, args = _case(rng, n, h, w, c, o, kh, kw, g, s, p, d)
    _check(case, args, zo=int(rng.integers(-128, 128)))


@pytest.mark.parametrize("shape", DW, ids=str)
def test_depthwise(isa, rng, monkeypatch, shape):
    monkeypatch.delenv("QENGINE_CONV_GENERIC", raising=False)
    n, h, w, c, mult, k, s, p, d = shape
    case, args = _case(rng, n, h, w, c, c * mult, k, k, c, (s, s), p, (d, d))
    assert K.pack_conv2d(*case[1:], **args).path == "depthwise"
    _check(case, args, zo=int(rng.integers(-128, 128)))
    _check(case, args, zo=-3, qmin=-3, qmax=100)


def test_random(isa, rng):
    for _ in range(30):
        c = int(rng.integers(1, 20))
        groups = int(rng.choice([g for g in (1, 2, 3, c) if c % g == 0]))
        o = groups * int(rng.integers(1, 5))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        p = tuple(int(v) for v in rng.integers(0, 3, size=4))
        h = int(rng.integers(d[0] * (kh - 1) + 1, 14))
        w = int(rng.integers(d[1] * (kw - 1) + 1, 14))
        case, args = _case(rng, int(rng.integers(1, 3)), h, w, c, o, kh, kw, groups, s, p, d)
        _check(case, args, zo=int(rng.integers(-128, 128)))


def test_extreme_requant(isa, rng):
    """Saturating accumulators and multipliers (the dwconv accumulator clamp)."""
    for groups, c, o in [(1, 4, 5), (16, 16, 16), (3, 3, 6)]:
        x = np.full((1, 5, 5, c), 127, np.int8)
        x[0, ::2] = -128
        for m0v, shv in [(2**31 - 1, 1), (2**31 - 1, 31), (2**30, 62), (0, 5), (2**31 - 1, 20)]:
            w = rng.choice(np.array([-127, 127], np.int8), size=(o, 3, 3, c // groups))
            bias = rng.choice(np.array([2**31 - 1, -2**31, 0, 7], np.int64), size=o)
            m0 = np.full(o, m0v, np.int32)
            sh = np.full(o, shv, np.int32)
            args = dict(padding=(1, 1, 1, 1), groups=groups, pad_value=-128)
            _check((x, w, bias.astype(np.int32), m0, sh), args, zo=int(rng.integers(-128, 128)))


@pytest.mark.parametrize("shape", SHAPES[1:] + [
    (1, 9, 9, 16, 16, 3, 3, 16, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 9, 9, 8, 16, 5, 5, 8, (2, 2), (1, 2, 2, 1), (1, 1))], ids=str)
def test_specialisations_equal_generic(isa, rng, monkeypatch, shape):
    n, h, w, c, o, kh, kw, g, s, p, d = shape
    case, args = _case(rng, n, h, w, c, o, kh, kw, g, s, p, d)
    fast = K.qconv2d(*case, 9, **args)
    monkeypatch.setenv("QENGINE_CONV_GENERIC", "1")
    assert K.pack_conv2d(*case[1:], **args).path == "im2col"
    generic = K.qconv2d(*case, 9, **args)
    assert_same(fast, generic, shape=shape)


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_identical(isa, rng, threads):
    for shape in [(1, 28, 28, 32, 32, 3, 3, 32, (1, 1), (1, 1, 1, 1), (1, 1)),
                  (1, 29, 29, 24, 24, 5, 5, 24, (2, 2), (2, 2, 2, 2), (1, 1)),
                  (2, 14, 14, 16, 24, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
                  (1, 15, 15, 8, 20, 3, 3, 1, (2, 2), (1, 1, 1, 1), (1, 1)),
                  (1, 3, 2, 4, 6, 3, 3, 2, (1, 1), (1, 1, 1, 1), (1, 1))]:
        n, h, w, c, o, kh, kw, g, s, p, d = shape
        case, args = _case(rng, n, h, w, c, o, kh, kw, g, s, p, d)
        one = _check(case, args, num_threads=1)
        many = _check(case, args, num_threads=threads)
        assert_same(many, one, threads=threads, shape=shape)


def test_packed_run_matches(rng, monkeypatch):
    monkeypatch.delenv("QENGINE_CONV_GENERIC", raising=False)
    case, args = _case(rng, 1, 10, 10, 24, 24, 3, 3, 24, (2, 2), (0, 0, 1, 1))
    packed = K.pack_conv2d(*case[1:], **args)
    assert packed.kernel_name.startswith("qe_qs8_dwconv")
    want = K.qconv2d(case[0], *case[1:], 4, **args)
    assert_same(packed.run(case[0], 4, -128, 127, 1), want)
    assert packed.out_size(10, 10) == want.shape[1:3]


BAD = [
    (dict(w=np.zeros((4, 3, 3, 5), np.int8)), "input channels"),
    (dict(groups=3), "divisible by groups"),
    (dict(groups=2, w=np.zeros((5, 3, 3, 2), np.int8)), "O=5"),
    (dict(stride=(0, 1)), "stride"),
    (dict(stride=-1), "stride"),
    (dict(dilation=(1, 0)), "dilation"),
    (dict(padding=(0, -1, 0, 0)), "padding"),
    (dict(padding=(1, 1)), "padding"),
    (dict(w=np.zeros((4, 9, 3, 4), np.int8)), "output size"),
    (dict(dilation=(5, 1)), "output size"),
    (dict(x=np.zeros((1, 6, 6, 4), np.float32)), "dtype"),
    (dict(x=np.zeros((6, 6, 4), np.int8)), "4-D"),
    (dict(w=np.full((4, 3, 3, 4), -128, np.int8)), "-128"),
    (dict(bias=np.zeros(3, np.int32)), "bias"),
    (dict(m0=np.full(4, -1)), "m0"),
    (dict(sh=np.zeros(4, np.int32)), "sh"),
    (dict(zo=200), "zo"),
    (dict(qmin=10, qmax=0), "qmin"),
    (dict(pad_value=128), "pad_value"),
    (dict(num_threads=0), "num_threads"),
    (dict(x=np.zeros((1, 0, 6, 4), np.int8)), "H, W, C"),
    (dict(w=np.zeros((0, 3, 3, 4), np.int8), bias=np.zeros(0, np.int32),
          m0=np.zeros(0, np.int32), sh=np.zeros(0, np.int32)), "every size"),
]


@pytest.mark.parametrize("bad,match", BAD, ids=[m for _, m in BAD])
def test_bad_arguments(bad, match):
    args = dict(x=np.zeros((1, 6, 6, 4), np.int8), w=np.zeros((4, 3, 3, 4), np.int8),
                bias=np.zeros(4, np.int32), m0=np.full(4, 2**30, np.int32),
                sh=np.full(4, 20, np.int32), zo=0)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        K.qconv2d(**args)


def test_packed_run_bad_input(rng):
    case, args = _case(rng, 1, 6, 6, 4, 4, 3, 3)
    packed = K.pack_conv2d(*case[1:], **args)
    with pytest.raises(ValueError, match="channels"):
        packed.run(np.zeros((1, 6, 6, 5), np.int8), 0, -128, 127, 1)
    with pytest.raises(ValueError, match="output size"):
        packed.run(np.zeros((1, 2, 6, 4), np.int8), 0, -128, 127, 1)
    with pytest.raises(ValueError, match="H, W"):
        packed.run(np.zeros((1, 0, 6, 4), np.int8), 0, -128, 127, 1)
    with pytest.raises(ValueError):
        packed.run(np.zeros((1, 6, 6, 4), np.float32), 0, -128, 127, 1)
    assert packed.run(np.zeros((0, 6, 6, 4), np.int8), 0, -128, 127, 1).shape == (0, 4, 4, 4)
