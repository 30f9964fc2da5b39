"""The int8 operators (pooling, add/mul, concat, LUT, requantize, quantize/dequantize,
softmax): every ISA variant bit-exact against tests/reference_ops.py, thread counts
identical, accuracy against the real-valued result, bad arguments -> ValueError."""
import math

import numpy as np
import pytest

from qengine import kernels as K
from qengine import quant as Q

import reference_ops as R
from helpers import assert_same

ODD_C = [1, 3, 7, 17]
# lengths around every vector width in use (16, 32, 64 bytes; 8/16 int32 lanes) and odd
LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 1000, 4099]


def _x(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def _scale(rng):
    return float(2.0 ** rng.uniform(-8, 0))


# ---- quant.multiplier (section 3, "Finding m0, sh") --------------------------------------------

def test_multiplier_matches_real_value():
    rng = np.random.default_rng(0)
    for M in list(2.0 ** rng.uniform(-30, 29, size=2000)) + [1.0, 0.5, 2**-31, 2**29.9999]:
        m0, sh = Q.multiplier(M)
        assert 2**30 <= m0 < 2**31 and 1 <= sh <= 62
        assert abs(m0 * 2.0**-sh - M) <= 2.0**-sh * 0.5 * (1 + 1e-12)   # m0 rounded half up


def test_multiplier_edges():
    assert Q.multiplier(0.0) == (0, 1)
    assert Q.multiplier(1.0) == (2**30, 30)
    # f * 2^31 rounds up to 2^31: becomes 2^30 with the next exponent
    assert Q.multiplier(1.0 - 2.0**-40) == (2**30, 30)
    for bad in (-1.0, math.inf, math.nan, 2.0**31, 2.0**-33):
        with pytest.raises(ValueError):
            Q.multiplier(bad)


# ---- max pool ----------------------------------------------------------------------------------

POOL_CASES = [  # (H, W, kernel, stride, padding)
    ((1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((1, 1), (2, 2), (1, 1), (1, 1, 0, 0)),
    ((7, 7), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((9, 11), (3, 3), (2, 2), (0, 0, 1, 1)),   # TF "SAME" on odd sizes: pad only after
    ((8, 5), (2, 3), (1, 2), (1, 0, 0, 2)),
    ((13, 13), (5, 5), (3, 3), (2, 1, 4, 3)),
    ((4, 6), (4, 6), (1, 1), (0, 0, 0, 0)),
    ((5, 5), (7, 7), (1, 1), (3, 3, 3, 3)),    # 49 window pixels: several ukernel batches
]


@pytest.mark.parametrize("h_w, kernel, stride, padding", POOL_CASES)
def test_maxpool_bitexact(isa, rng, h_w, kernel, stride, padding):
    for c in ODD_C + [16, 32, 64, 65, 130]:
        x = _x(rng, (2, *h_w, c))
        want = R.maxpool2d(x, kernel, stride, padding)
        got = K.maxpool2d(x, kernel, stride, padding)
        assert_same(got, want, isa=isa, c=c, kernel=kernel, stride=stride, padding=padding)


def _random_pool_case(rng):
    h, w = (int(v) for v in rng.integers(1, 16, 2))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    pads = [int(rng.integers(0, kh)), int(rng.integers(0, kw)), int(rng.integers(0, kh)),
            int(rng.integers(0, kw))]
    if h + pads[0] + pads[2] < kh or w + pads[1] + pads[3] < kw:
        return None
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    c = int(rng.choice(ODD_C + [16, 32, 33, 64, 96]))
    return _x(rng, (int(rng.integers(1, 3)), h, w, c)), (kh, kw), stride, tuple(pads)


def test_pool_random_shapes(isa, rng):
    for _ in range(60):
        case = _random_pool_case(rng)
        if case is None:
            continue
        x, k, s, p = case
        assert_same(K.maxpool2d(x, k, s, p), R.maxpool2d(x, k, s, p), isa=isa, k=k, s=s, p=p,
                    shape=x.shape)
        for include in (False, True):
            assert_same(K.avgpool2d(x, k, 0.07, 3, 0.05, -9, s, p, include),
                        R.avgpool2d(x, k, s, p, 0.07, 3, 0.05, -9, include), k=k, s=s, p=p,
                        shape=x.shape, include=include)


def test_maxpool_clamp_and_extremes(isa, rng):
    for fill in (-128, 127):
        x = np.full((1, 5, 5, 33), fill, np.int8)
        assert_same(K.maxpool2d(x, 3, 2, 1), R.maxpool2d(x, (3, 3), (2, 2), (1, 1, 1, 1)))
    x = _x(rng, (2, 9, 9, 37))
    for qmin, qmax in [(-5, 5), (0, 127), (10, 10), (-128, -128)]:
        assert_same(K.maxpool2d(x, 3, 2, 1, qmin=qmin, qmax=qmax),
                    R.maxpool2d(x, (3, 3), (2, 2), (1, 1, 1, 1), qmin, qmax), qmin=qmin)


def test_maxpool_padding_never_wins(isa):
    x = np.full((1, 3, 3, 5), -128, np.int8)   # pads would be "0" if they were read
    assert (K.maxpool2d(x, 3, 1, 1) == -128).all()


# ---- average pool ----------------------------------------------------------------------------

@pytest.mark.parametrize("h_w, kernel, stride, padding", POOL_CASES)
@pytest.mark.parametrize("include", [False, True])
def test_avgpool_bitexact(isa, rng, h_w, kernel, stride, padding, include):
    for c in ODD_C + [32, 65, 130]:  # 64-channel blocks of AVX-512, 32 of AVX2, and tails
        x = _x(rng, (2, *h_w, c))
        sx, sy = _scale(rng), _scale(rng)
        zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
        if 2.0**-20 > sx / sy or sx / sy > 2**20:
            continue
        want = R.avgpool2d(x, kernel, stride, padding, sx, zx, sy, zy, include)
        got = K.avgpool2d(x, kernel, sx, zx, sy, zy, stride, padding, include)
        assert_same(got, want, isa=isa, c=c, include=include)


@pytest.mark.parametrize("h_w, kernel, padding", [
    ((25, 5), (25, 5), (0, 0, 0, 0)),  # DS-CNN's last pool: the window is the image
    ((1, 1), (1, 1), (0, 0, 0, 0)),
    ((7, 3), (8, 4), (1, 1, 0, 0)),    # padded: count_include_pad changes the divisor
    ((4, 6), (5, 7), (0, 0, 1, 1)),
    ((3, 3), (4, 4), (1, 1, 1, 1)),    # a 2x2 output: not a whole-image window
])
def test_avgpool_whole_image_window(isa, rng, h_w, kernel, padding):
    # these windows run the global average pool kernel (qe_pool_covers_image)
    for c in (1, 15, 16, 17, 64, 65, 200):
        for include in (False, True):
            for fill in (None, -128, 127):
                x = _x(rng, (2, *h_w, c)) if fill is None else np.full((1, *h_w, c), fill, np.int8)
                for zx, zy, qmin, qmax in [(3, -9, -128, 127), (-128, 127, -128, 127),
                                           (127, -128, -20, 30)]:
                    want = R.avgpool2d(x, kernel, (1, 1), padding, 0.07, zx, 0.05, zy, include,
                                       qmin, qmax)
                    got = K.avgpool2d(x, kernel, 0.07, zx, 0.05, zy, 1, padding, include,
                                      qmin, qmax)
                    assert_same(got, want, isa=isa, c=c, include=include, fill=fill, zx=zx)


def test_avgpool_count_include_pad_divisors():
    # 3x3 of ones (real 1.0), pad 1: the corner window has 4 real pixels
    x = np.full((1, 3, 3, 1), 1, np.int8)
    ex = K.avgpool2d(x, 3, 1.0, 0, 1 / 64, 0, stride=1, padding=1)
    inc = K.avgpool2d(x, 3, 1.0, 0, 1 / 64, 0, stride=1, padding=1, count_include_pad=True)
    assert ex[0, 0, 0, 0] == 64                      # mean of 4 ones = 1.0
    assert inc[0, 0, 0, 0] == round(64 * 4 / 9)      # 4 ones / 9 = 0.444 -> 28
    assert inc[0, 1, 1, 0] == ex[0, 1, 1, 0] == 64


def test_avgpool_accuracy(rng):
    x = _x(rng, (1, 9, 9, 8))
    sx, zx, sy, zy = 0.05, 3, 0.04, -7
    got = K.avgpool2d(x, 3, sx, zx, sy, zy, stride=2, padding=(1, 1, 0, 0)).astype(np.int64)
    real = np.empty(got.shape)
    for i in range(got.shape[1]):
        y0, y1 = max(2 * i - 1, 0), min(2 * i + 2, 9)
        for j in range(got.shape[2]):
            x0, x1 = max(2 * j - 1, 0), min(2 * j + 2, 9)
            real[0, i, j] = (sx * (x[0, y0:y1, x0:x1] - zx.__float__())).mean(axis=(0, 1))
    assert _max_error_lsb(got, real / sy, zy) <= 0.5 + 1e-6


# ---- global average pool ---------------------------------------------------------------------

def test_gavgpool_bitexact(isa, rng):
    for h, w in [(1, 1), (1, 2), (7, 7), (3, 5), (14, 14)]:
        for c in ODD_C + [8, 16, 31, 32, 63, 64, 65, 100, 1280]:
            x = _x(rng, (2, h, w, c))
            sx, sy = _scale(rng), _scale(rng)
            zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
            got = K.global_avgpool(x, sx, zx, sy, zy)
            assert_same(got, R.global_avgpool(x, sx, zx, sy, zy), isa=isa, hw=(h, w), c=c)


def test_gavgpool_extremes_and_clamp(isa, rng):
    for fill, zx in [(-128, 127), (127, -128), (-128, -128), (0, 0)]:
        x = np.full((1, 7, 7, 70), fill, np.int8)
        for sx, sy in [(1.0, 1.0), (1.0, 2**-10), (2**-10, 1.0)]:
            for qmin, qmax in [(-128, 127), (0, 6)]:
                assert_same(K.global_avgpool(x, sx, zx, sy, 5, qmin, qmax),
                            R.global_avgpool(x, sx, zx, sy, 5, qmin, qmax), fill=fill)


def test_gavgpool_accuracy(rng):
    x = _x(rng, (3, 7, 7, 50))
    sx, zx, sy, zy = 0.1, -5, 0.02, 10
    got = K.global_avgpool(x, sx, zx, sy, zy).astype(np.int64)
    real = (sx * (x.astype(np.float64) - zx)).mean(axis=(1, 2), keepdims=True)
    assert _max_error_lsb(got, real / sy, zy) <= 0.5 + 1e-6


# ---- add / mul ---------------------------------------------------------------------------------

BROADCASTS = [  # (a shape, b shape)
    ((2, 5, 7, 17), (2, 5, 7, 17)),
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((3, 4, 4, 7), (7,)),
    ((3, 4, 4, 7), ()),
    ((), (3, 4, 4, 7)),
    ((7,), (3, 4, 4, 7)),
    ((2, 3, 3, 33), (2, 1, 1, 33)),
    ((2, 1, 1, 33), (2, 3, 3, 33)),
    ((4, 6, 1), (1, 1, 9)),
    ((5, 1), (1, 70)),
    ((1,), (65,)),
    ((2, 3, 4, 5, 6, 7), (1, 3, 1, 5, 1, 7)),
]


@pytest.mark.parametrize("sa_shape, sb_shape", BROADCASTS)
def test_add_broadcast_bitexact(isa, rng, sa_shape, sb_shape):
    for _ in range(3):
        a, b = _x(rng, sa_shape), _x(rng, sb_shape)
        sa, sb, sy = _scale(rng), _scale(rng), _scale(rng)
        if not 2.0**-12 <= max(sa, sb) / sy < 2.0**11:
            continue
        za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
        want = R.add(a, b, sa, za, sb, zb, sy, zy)
        got = K.add(a, b, sa, za, sb, zb, sy, zy)
        assert_same(got, want, isa=isa, shapes=(sa_shape, sb_shape), scales=(sa, sb, sy))


@pytest.mark.parametrize("sa_shape, sb_shape", BROADCASTS)
def test_mul_broadcast_bitexact(isa, rng, sa_shape, sb_shape):
    a, b = _x(rng, sa_shape), _x(rng, sb_shape)
    za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
    want = R.mul(a, b, 0.05, za, 0.02, zb, 0.5, zy)
    assert_same(K.mul(a, b, 0.05, za, 0.02, zb, 0.5, zy), want, shapes=(sa_shape, sb_shape))


def test_add_lengths_and_extremes(isa, rng):
    for n in LENGTHS:
        a, b = _x(rng, (n,)), _x(rng, (n,))
        for (sa, sb, sy) in [(1.0, 1.0, 1.0), (0.02, 0.9, 0.03), (1.0, 2**-11, 2**10),
                             (2**-12, 1.0, 1.0), (0.5, 0.25, 2**-12 * 1.01)]:
            for za, zb, zy in [(0, 0, 0), (-128, 127, -128), (127, -128, 127)]:
                for qmin, qmax in [(-128, 127), (zy, 127), (-3, 4)]:
                    qmin, qmax = min(qmin, qmax), max(qmin, qmax)
                    assert_same(K.add(a, b, sa, za, sb, zb, sy, zy, qmin, qmax),
                                R.add(a, b, sa, za, sb, zb, sy, zy, qmin, qmax),
                                n=n, scales=(sa, sb, sy), zps=(za, zb, zy))
                    assert_same(K.add(a, b[:1], sa, za, sb, zb, sy, zy, qmin, qmax),
                                R.add(a, b[:1], sa, za, sb, zb, sy, zy, qmin, qmax), n=n)


def test_mul_lengths_and_extremes(isa, rng):
    for n in LENGTHS:
        a, b = _x(rng, (n,)), _x(rng, (n,))
        for (sa, sb, sy) in [(1.0, 1.0, 1.0), (0.02, 0.9, 0.03), (2**-7, 2**-7, 1.0),
                             (0.5, 0.25, 0.01), (0.05, 0.02, 0.5)]:
            for za, zb, zy in [(0, 0, 0), (-128, 127, -128), (127, -128, 127)]:
                for qmin, qmax in [(-128, 127), (zy, 127), (-3, 4)]:
                    qmin, qmax = min(qmin, qmax), max(qmin, qmax)
                    args = (sa, za, sb, zb, sy, zy, qmin, qmax)
                    assert_same(K.mul(a, b, *args), R.mul(a, b, *args),
                                n=n, scales=(sa, sb, sy), zps=(za, zb, zy))
                    assert_same(K.mul(a, b[:1], *args), R.mul(a, b[:1], *args), n=n)
                    assert_same(K.mul(a[:1], b, *args), R.mul(a[:1], b, *args), n=n)


def _max_error_lsb(got, real_q, zy):
    """Largest |got - real| in output LSBs over the outputs that are not clamped; real_q is
    the real result divided by the output scale (before adding the zero point)."""
    inside = (got > -128) & (got < 127)
    return float(np.abs(got[inside].astype(np.float64) - zy - real_q[inside]).max())


def test_add_accuracy(rng):
    """One rounding: within 0.5 LSB (+ the multipliers' 2^-20 relative error) of the real
    sum, i.e. <= 1 LSB from the float-rounded result."""
    for sa, sb, sy in [(0.05, 0.07, 0.1), (0.02, 0.02, 0.02), (0.1, 0.001, 0.05),
                       (0.031, 0.017, 0.2), (0.013, 0.2, 0.09)]:
        a, b = _x(rng, (20000,)), _x(rng, (20000,))
        za, zb, zy = 3, -20, 7
        got = K.add(a, b, sa, za, sb, zb, sy, zy).astype(np.int64)
        real = sa * (a.astype(np.float64) - za) + sb * (b.astype(np.float64) - zb)
        assert _max_error_lsb(got, real / sy, zy) <= 0.5 + 1e-3
        want = np.clip(np.floor(real / sy + 0.5) + zy, -128, 127)
        assert np.abs(got - want).max() <= 1


def test_mul_accuracy(rng):
    a, b = _x(rng, (20000,)), _x(rng, (20000,))
    got = K.mul(a, b, 0.05, 1, 0.04, -3, 0.5, 2).astype(np.int64)
    real = 0.05 * (a.astype(np.float64) - 1) * 0.04 * (b.astype(np.float64) + 3)
    assert _max_error_lsb(got, real / 0.5, 2) <= 0.5 + 1e-6


# ---- concat, LUT, requantize -------------------------------------------------------------------

def test_concat_bitexact(isa, rng):
    for lead in [(1, 1, 1), (2, 5, 7), (1, 3, 3), ()]:
        for chans in [(1,), (3, 7), (17, 1, 16, 64), (32, 32)]:
            xs = [_x(rng, lead + (c,)) for c in chans]
            scales = [0.1 if k % 2 == 0 else _scale(rng) for k in range(len(xs))]
            zps = [5 if k % 2 == 0 else int(rng.integers(-128, 128)) for k in range(len(xs))]
            got = K.concat(xs, scales, zps, 0.1, 5)
            assert_same(got, R.concat(xs, scales, zps, 0.1, 5), isa=isa, lead=lead,
                        chans=chans)


def test_concat_identity_is_a_copy(isa, rng):
    xs = [_x(rng, (2, 4, 4, c)) for c in (3, 8)]
    assert_same(K.concat(xs, [0.5, 0.5], [1, 1], 0.5, 1), np.concatenate(xs, axis=-1))


def test_lut_bitexact(isa, rng):
    table = _x(rng, (256,))
    for n in LENGTHS + [16384 * 3 + 5]:
        x = _x(rng, (n,))
        assert_same(K.lut(x, table), R.lut(x, table), isa=isa, n=n)
    x = np.arange(-128, 128, dtype=np.int8)
    assert_same(K.lut(x, table), table)      # every table entry reached
    x = _x(rng, (3, 5, 5, 7))
    assert_same(K.lut(x, table), R.lut(x, table))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "hardswish", "hardsigmoid",
                                  "leaky_relu"])
def test_lut_table_builder(name):
    sx, zx, sy, zy = 0.05, -10, 1 / 256, -128
    if name in ("tanh", "leaky_relu", "hardswish"):
        sy, zy = 0.02, 0
    table = Q.lut_table(name, sx, zx, sy, zy)
    q = np.arange(-128, 128)
    real = Q.ACTIVATIONS[name](sx * (q - zx))
    want = np.clip(np.floor(real / sy + 0.5) + zy, -128, 127)
    assert_same(table.astype(np.int64), want)
    custom = Q.lut_table(lambda r: np.cos(r), sx, zx, 0.01, 0)
    assert custom.dtype == np.int8 and custom.shape == (256,)
    assert Q.lut_table("leaky_relu", 0.1, 0, 0.1, 0, alpha=0.5)[128 - 10] == -5


def test_requantize_bitexact(isa, rng):
    for n in LENGTHS:
        x = _x(rng, (n,))
        for sx, zx, sy, zy in [(0.1, 0, 0.1, 0), (0.1, -128, 0.003, 127), (0.01, 127, 7.0, -128),
                               (1.0, 3, 2**-20, 0)]:
            assert_same(K.requantize(x, sx, zx, sy, zy), R.requantize_op(x, sx, zx, sy, zy),
                        n=n, isa=isa)
    x = _x(rng, (4, 3, 3, 7))
    assert_same(K.requantize(x, 0.2, 1, 0.1, -1, -50, 50),
                R.requantize_op(x, 0.2, 1, 0.1, -1, -50, 50))


def test_requantize_accuracy():
    x = np.arange(-128, 128, dtype=np.int8)
    for sx, zx, sy, zy in [(0.1, 3, 0.13, -4), (0.02, -100, 0.5, 0), (0.5, 0, 0.49, 1)]:
        got = K.requantize(x, sx, zx, sy, zy).astype(np.int64)
        real = sx * (x.astype(np.float64) - zx) / sy
        assert _max_error_lsb(got, real, zy) <= 0.5 + 1e-6


# ---- quantize / dequantize --------------------------------------------------------------------

def test_quantize_bitexact(isa, rng):
    for n in LENGTHS:
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        for scale, zp in [(0.02, 0), (0.1, -128), (0.05, 127), (1.0, 3), (1e-6, -7)]:
            assert_same(K.quantize(x, scale, zp), R.quantize(x, scale, zp), n=n, isa=isa,
                        scale=scale, zp=zp)


def test_quantize_special_values(isa):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 3e-45,
                  0.5, 1.5, -0.5, -1.5, 2.5, -2.5, 127.49, 127.5, -128.5, -128.51] * 3,
                 np.float32)
    for zp in (0, 10, -128, 127):
        got = K.quantize(x, 1.0, zp)
        assert_same(got, R.quantize(x, 1.0, zp), zp=zp, isa=isa)
        assert got[0] == got[1] == zp                  # NaN -> zero point
        assert got[2] == 127 and got[3] == -128        # +-inf saturate
    # round half up (toward +inf) at exact ties
    got = K.quantize(np.array([0.5, 1.5, -0.5, -1.5, 2.5, -2.5], np.float32), 1.0, 0)
    assert got.tolist() == [1, 2, 0, -1, 3, -2]


def test_quantize_float32_formula_ties(isa):
    # t = 0.5 - 2^-25: float32 t + 0.5 rounds (to even) up to 1.0, so q = 1 (eq. 17 is a
    # float32 formula, not exact rounding of t); every variant must agree
    x = np.array([0.5 - 2.0**-25, -0.5 - 2.0**-25, 0.5 + 2.0**-24], np.float32)
    got = K.quantize(x, 1.0, 0)
    assert_same(got, R.quantize(x, 1.0, 0))
    assert got.tolist() == [1, 0, 1]


def test_quantize_is_not_fused(isa):
    """x where fl(x * inv) lands exactly on k + 0.5 although the exact product is below it:
    eq. 17 (two roundings) gives k + 1, a fused multiply-add would give k."""
    inv = Q.quantize_params(0.1)
    xs = []
    for k in range(-120, 120):
        x = np.float32((k + 0.5) / float(inv))
        for _ in range(8):
            if np.float32(x * inv) == k + 0.5 and float(x) * float(inv) < k + 0.5:
                xs.append(x)
                break
            x = np.nextafter(x, np.float32(np.inf))
    assert len(xs) > 20
    xs = np.array(xs * 3, np.float32)
    got = K.quantize(xs, 0.1, 0)
    assert_same(got, R.quantize(xs, 0.1, 0), isa=isa)
    assert (got.astype(np.int64) == np.clip(np.floor(xs * inv) + 1, -128, 127)).all()


def test_dequantize_bitexact(isa, rng):
    for n in LENGTHS:
        q = _x(rng, (n,))
        for scale, zp in [(0.02, 0), (0.1, -128), (3.7e-5, 127)]:
            got = K.dequantize(q, scale, zp)
            assert got.dtype == np.float32
            assert_same(got, R.dequantize(q, scale, zp), n=n, isa=isa)
    q = np.arange(-128, 128, dtype=np.int8)
    assert_same(K.quantize(K.dequantize(q, 0.05, 3), 0.05, 3), q)   # round trip


# ---- softmax -------------------------------------------------------------------------------------

def test_softmax_bitexact_and_accurate(isa, rng):
    for rows, n in [(1, 1), (1, 10), (3, 1000), (5, 17), (2, 256)]:
        x = _x(rng, (rows, n))
        for sx in (0.01, 0.1, 0.5):
            f = K.softmax(x, sx)
            assert_same(f, R.softmax(x, sx), rows=rows, n=n)
            q = K.softmax(x, sx, dtype=np.int8)
            assert_same(q, R.softmax(x, sx, int8_out=True), rows=rows, n=n)
            z = sx * x.astype(np.float64)
            real = np.exp(z - z.max(axis=-1, keepdims=True))
            real /= real.sum(axis=-1, keepdims=True)
            assert np.abs(f - real).max() < 1e-5
            want = np.clip(np.floor(real * 256 + 0.5) - 128, -128, 127)
            assert np.abs(q.astype(np.int64) - want).max() <= 1


def test_softmax_shapes():
    x = np.zeros((2, 3, 4), np.int8)
    assert np.allclose(K.softmax(x, 0.1), 0.25)
    assert K.softmax(np.array([5], np.int8), 1.0, np.int8).tolist() == [127]


# ---- threads -------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [2, 3])
def test_threads_identical(isa, rng, threads):
    x = _x(rng, (2, 57, 41, 24))
    y = _x(rng, (2, 57, 41, 24))
    f = (rng.standard_normal(300001) * 2).astype(np.float32)
    ops = [
        lambda t: K.maxpool2d(x, 3, 2, (0, 0, 1, 1), num_threads=t),
        lambda t: K.avgpool2d(x, 3, 0.1, 1, 0.1, 2, 2, 1, num_threads=t),
        lambda t: K.global_avgpool(_x(np.random.default_rng(3), (4, 7, 7, 1280)), 0.1, 1,
                                   0.05, 2, num_threads=t),
        lambda t: K.add(x, y, 0.1, 1, 0.2, -3, 0.15, 4, num_threads=t),
        lambda t: K.add(x, y[:1, :1, :1], 0.1, 1, 0.2, -3, 0.15, 4, num_threads=t),
        lambda t: K.mul(x, y, 0.1, 1, 0.2, -3, 0.15, 4, num_threads=t),
        lambda t: K.concat([x, y], [0.1, 0.2], [0, 1], 0.1, 0, num_threads=t),
        lambda t: K.lut(x, y.reshape(-1)[:256], num_threads=t),
        lambda t: K.requantize(x, 0.1, 3, 0.07, -2, num_threads=t),
        lambda t: K.quantize(f, 0.03, 5, num_threads=t),
        lambda t: K.dequantize(x, 0.03, 5, num_threads=t),
        lambda t: K.softmax(x.reshape(-1, 984), 0.1, num_threads=t),
    ]
    for k, op in enumerate(ops):
        assert_same(op(threads), op(1), op=k, threads=threads)


# ---- bad arguments ----------------------------------------------------------------------------

X4 = np.zeros((1, 4, 4, 3), np.int8)
BAD = [
    (lambda: K.maxpool2d(X4.astype(np.int16), 2), "dtype int8"),
    (lambda: K.maxpool2d(X4[0], 2), "4-D"),
    (lambda: K.maxpool2d(X4, 0), "kernel"),
    (lambda: K.maxpool2d(X4, 2, stride=0), "stride"),
    (lambda: K.maxpool2d(X4, 2, padding=2), "smaller than the kernel"),
    (lambda: K.maxpool2d(X4, 2, padding=(1, 1, 1)), "padding must be"),
    (lambda: K.maxpool2d(X4, 5), "output size"),
    (lambda: K.maxpool2d(X4, 2, qmin=5, qmax=4), "must not exceed"),
    (lambda: K.maxpool2d(X4, 2, num_threads=0), "num_threads"),
    (lambda: K.avgpool2d(X4, 2, 0.0, 0, 0.1, 0), "x_scale"),
    (lambda: K.avgpool2d(X4, 2, 0.1, 200, 0.1, 0), "x_zero_point"),
    (lambda: K.avgpool2d(X4, 300, 0.1, 0, 0.1, 0, padding=299), "at most 65536"),
    (lambda: K.global_avgpool(X4, 0.1, 0, -1.0, 0), "y_scale"),
    (lambda: K.global_avgpool(np.zeros((1, 0, 4, 3), np.int8), 0.1, 0, 0.1, 0), "H \\* W"),
    (lambda: K.add(X4, np.zeros(4, np.int8), 0.1, 0, 0.1, 0, 0.1, 0), "do not broadcast"),
    (lambda: K.add(X4, X4, 0.1, 0, 0.1, 0, 1e6, 0), "degenerate"),
    (lambda: K.add(X4, X4, 0.1, 0, 0.1, 0, 0.1, 128), "y_zero_point"),
    (lambda: K.add(X4, X4, math.nan, 0, 0.1, 0, 0.1, 0), "a_scale"),
    (lambda: K.add(X4, [1, 2, 3], 0.1, 0, 0.1, 0, 0.1, 0), "numpy int8 array"),
    (lambda: K.mul(X4, np.zeros((2, 4, 4, 3), np.int8)[:, :, :, :2], 0.1, 0, 0.1, 0, 0.1, 0),
     "do not broadcast"),
    (lambda: K.concat([X4, X4[:, :2]], [0.1, 0.1], [0, 0], 0.1, 0), "except in the last"),
    (lambda: K.concat([X4], [0.1, 0.2], [0], 0.1, 0), "one scale and zero point"),
    (lambda: K.concat([], [], [], 0.1, 0), "non-empty"),
    (lambda: K.lut(X4, np.zeros(255, np.int8)), "256 entries"),
    (lambda: K.lut(X4, np.zeros(256, np.uint8)), "dtype int8"),
    (lambda: K.requantize(X4, 0.1, 0, 0.1, -129), "y_zero_point"),
    (lambda: K.requantize(X4, 1.0, 0, 1e-12, 0), "out of range"),
    (lambda: K.quantize(np.zeros(3, np.float64), 0.1, 0), "float32"),
    (lambda: K.quantize(np.zeros(3, np.float32), 0.0, 0), "scale"),
    (lambda: K.quantize(np.zeros(3, np.float32), 1e-300, 0), "normal float32"),
    (lambda: K.dequantize(np.zeros(3, np.float32), 0.1, 0), "dtype int8"),
    (lambda: K.dequantize(np.zeros(3, np.int8), 1e-40, 0), "normal float32"),
    (lambda: K.quantize(np.zeros(3, np.float32), 1e39, 0), "normal float32"),
    (lambda: K.softmax(np.zeros((2, 3), np.int8), 0.1, dtype=np.int16), "float32 or int8"),
    (lambda: K.softmax(np.zeros((), np.int8), 0.1), "at least 1"),
    (lambda: Q.lut_table("nope", 0.1, 0, 0.1, 0), "unknown activation"),
    (lambda: Q.lut_table(lambda r: r * np.nan, 0.1, 0, 0.1, 0), "finite"),
]


@pytest.mark.parametrize("call, message", BAD)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_tensors(isa):
    e = np.zeros((0, 4, 4, 3), np.int8)
    assert K.maxpool2d(e, 2).shape == (0, 3, 3, 3)
    assert K.avgpool2d(e, 2, 0.1, 0, 0.1, 0).shape == (0, 3, 3, 3)
    assert K.global_avgpool(e, 0.1, 0, 0.1, 0).shape == (0, 1, 1, 3)
    z3 = np.zeros(3, np.int8)
    assert K.add(np.zeros((0, 3), np.int8), z3, .1, 0, .1, 0, .1, 0).shape == (0, 3)
    assert K.concat([np.zeros((2, 0), np.int8), np.ones((2, 3), np.int8)], [.1, .2], [0, 0],
                    .1, 0).tolist() == [[2, 2, 2], [2, 2, 2]]
    assert K.softmax(np.zeros((3, 0), np.int8), 0.1).shape == (3, 0)
    assert K.quantize(np.zeros(0, np.float32), 0.1, 0).shape == (0,)
    assert K.dequantize(np.zeros((2, 0), np.int8), 0.1, 0).shape == (2, 0)
    assert K.lut(np.zeros((2, 0), np.int8), np.zeros(256, np.int8)).shape == (2, 0)
