"""16x8 kernels (int16 activations, int8 weights): every ISA variant bit-exact against the
numpy reference of docs/QUANTIZATION.md section 13, for both accumulator paths."""
import numpy as np
import pytest

from qengine import kernels as K
from qengine import quant as Q

import reference_int16 as R
from helpers import assert_same

I16 = (-32768, 32767)
EDGE = [1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 24, 25, 31, 32, 33, 63, 65]


def _case(rng, m, n, k, wmax=127, big_bias=False):
    a = rng.integers(-32768, 32768, (m, k)).astype(np.int16)
    w = rng.integers(-wmax, wmax + 1, (n, k)).astype(np.int8)
    bias = rng.integers(-2**40 if big_bias else -2**24, 2**24, n)
    m0 = rng.integers(2**30, 2**31, n).astype(np.int32)
    # typical outputs inside int16, spread by a few bits either way
    typical = max(1.0, 18000.0 * wmax / 2 * np.sqrt(k))
    base = 31 + int(np.ceil(np.log2(typical / 2**14)))
    sh = np.clip(base + rng.integers(-3, 4, n), 1, 62).astype(np.int32)
    return a, w, bias, m0, sh


def _check(a, w, bias, m0, sh, zo=0, qmin=None, qmax=None, threads=1, out_dtype=None):
    lo, hi = I16 if out_dtype is None else (-128, 127)
    qmin = lo if qmin is None else qmin
    qmax = hi if qmax is None else qmax
    want, acc = R.qgemm(a, w, bias, m0, sh, zo, qmin, qmax)
    got = K.qgemm(a, w, bias, m0, sh, zo, qmin=qmin, qmax=qmax, num_threads=threads,
                  out_dtype=out_dtype)
    assert got.dtype == (np.int16 if out_dtype is None else np.int8)
    assert_same(got, want, acc, isa=K.isa()["selected"], shape=(a.shape[0], w.shape[0],
                a.shape[1]), zo=zo, threads=threads)


def test_power_of_two_helper():
    assert Q.is_power_of_two(1.0) and Q.is_power_of_two(2.0**-15) and Q.is_power_of_two(2**40)
    assert Q.is_power_of_two(np.float32(0.125))
    for s in (0.0, -0.5, 3.0, 0.1, float("inf"), float("nan"), 2.0**-15 * 1.0000001, True, "x"):
        assert not Q.is_power_of_two(s)
    assert Q.is_power_of_two(np.array([0.5, 0.25, 2.0**-20])).all()
    assert not Q.is_power_of_two(np.array([0.5, 0.3])).all()


def test_accumulator_bound():
    # eq. 21: |bias| + 32768 * sum|w| <= 2^31 - 1 keeps int32
    k = 2**31 // (32768 * 127)                           # 516: 516 * 127 * 32768 < 2^31
    w = np.full((1, k), 127, np.int8)
    slack = 2**31 - 1 - k * 127 * 32768
    m0, sh = [2**30], [40]
    assert not K.pack_gemm16(w, [slack], m0, sh).acc64
    assert K.pack_gemm16(w, [slack + 1], m0, sh).acc64
    assert K.pack_gemm16(np.full((1, k + 1), 127, np.int8), [0], m0, sh).acc64
    assert not K.pack_gemm16(np.full((3, 4096), 15, np.int8), [0, 0, 0], [2**30] * 3,
                             [40] * 3).acc64


@pytest.mark.parametrize("dim", ["m", "n", "k"])
def test_sweep_one_dim(isa, rng, dim):
    for size in EDGE:
        m, n, k = {"m": (size, 19, 37), "n": (7, size, 37), "k": (9, 21, size)}[dim]
        _check(*_case(rng, m, n, k), zo=int(rng.integers(-300, 300)))


def test_random_shapes_both_paths(isa, rng):
    for i in range(30):
        m, n, k = (int(v) for v in rng.integers(1, 120, 3))
        if i % 3 == 0:
            k = int(rng.integers(520, 1300))       # past one 512-k block of the int64 path
        wmax = 127 if i % 2 else 3                 # 3: int32 path even for long K
        _check(*_case(rng, m, n, k, wmax=wmax, big_bias=i % 5 == 0),
               zo=int(rng.integers(-1000, 1000)), threads=1 + i % 3)


def test_int8_output(isa, rng):
    for m, n, k in [(1, 1, 1), (7, 33, 45), (17, 65, 700)]:
        a, w, bias, m0, sh = _case(rng, m, n, k)
        _check(a, w, bias, m0, sh + 8, zo=-5, out_dtype=np.int8)
        _check(a, w, bias, m0, sh + 8, zo=3, qmin=-10, qmax=20, out_dtype=np.int8)


def test_clamp_and_any_shift(isa, rng):
    a, w, bias, m0, _ = _case(rng, 9, 40, 30)
    for sh in (1, 2, 20, 31, 32, 33, 45, 61, 62):
        _check(a, w, bias, m0, np.full(40, sh, np.int32), zo=int(rng.integers(-32768, 32768)),
               qmin=-1000, qmax=5000)
    wide = K.pack_gemm16(np.full((40, 30), 127, np.int8), bias, m0, np.full(40, 33, np.int32))
    assert not wide.acc64


def test_shift_boundaries_with_extreme_zero_points(isa, rng):
    # the AVX-512 kernel takes a 32-bit requantization when every sh of 16 channels is in
    # [33, 61 - b] with |zo| <= 2^b (46 for any int16 zo, 54 for int8 zo): both sides of
    # those limits, one channel off the fast range, large accumulators, both output widths
    a, w, bias, m0, _ = _case(rng, 13, 37, 64)
    a[0] = 32767
    a[1] = -32768
    for sh in (32, 33, 45, 46, 47, 53, 54, 55):
        for zo in (-32768, 32767, -16385, 16384, 16385, 129, -128, 127, 0):
            shs = np.full(37, sh, np.int32)
            _check(a, w, bias, m0, shs, zo=zo)
            _check(a, w, bias, m0, shs, zo=zo, qmin=zo - 3000 if zo > -29000 else zo,
                   qmax=min(zo + 3000, 32767))
            shs[5] = 32                            # one channel off the fast path
            _check(a, w, bias, m0, shs, zo=zo)
            if -128 <= zo <= 127:
                _check(a, w, bias, m0, np.full(37, sh, np.int32), zo=zo, out_dtype=np.int8)
                _check(a, w, bias, m0, np.full(37, sh, np.int32), zo=zo, qmin=-3, qmax=100,
                       out_dtype=np.int8)


@pytest.mark.parametrize("k", [1, 511, 512, 513, 4096])
def test_extremes_force_int64(isa, k):
    # all-extreme operands: the true sums reach 4096 * 32768 * 127 ~ 2^34
    for av, wv in [(-32768, 127), (-32768, -127), (32767, 127), (32767, -127)]:
        a = np.full((10, k), av, np.int16)
        a[1::2] = -32768 if av > 0 else 32767
        w = np.full((35, k), wv, np.int8)
        w[::3] = -wv
        bias = np.array([0, 2**40, -2**40, 12345, -1, 2**31 - 1, -2**31] * 5)
        for m0v, shv in [(2**30, 40), (2**31 - 1, 62), (2**30, 20), (2**31 - 1, 50), (0, 1)]:
            m0 = np.full(35, m0v, np.int32)
            sh = np.full(35, shv, np.int32)
            packed = K.pack_gemm16(w, bias, m0, sh)
            assert packed.acc64 == (k * 127 * 32768 + 2**40 > 2**31 - 1)
            _check(a, w, bias, m0, sh, zo=7)
            _check(a, w, bias * 0, m0, sh, zo=-7)


def test_threads_identical(isa, rng):
    for m, n, k in [(1, 300, 1280), (200, 24, 16), (49, 160, 960), (5, 3, 1)]:
        case = _case(rng, m, n, k)
        one = K.qgemm(*case, 3, num_threads=1)
        for t in (2, 3):
            assert_same(K.qgemm(*case, 3, num_threads=t), one, threads=t, shape=(m, n, k))


def test_gemm_bad_input(rng):
    a, w, bias, m0, sh = _case(rng, 3, 4, 5)
    with pytest.raises(ValueError, match="K="):
        K.qgemm(a[:, :4], w, bias, m0, sh, 0)
    with pytest.raises(ValueError, match="-128"):
        K.qgemm(a, np.full((4, 5), -128, np.int8), bias, m0, sh, 0)
    with pytest.raises(ValueError, match="bias"):
        K.qgemm(a, w, [2**41] * 4, m0, sh, 0)
    with pytest.raises(ValueError, match="zo"):
        K.qgemm(a, w, bias, m0, sh, 40000)
    with pytest.raises(ValueError, match="zo"):
        K.qgemm(a, w, bias, m0, sh, 200, out_dtype=np.int8)
    with pytest.raises(ValueError, match="qmin"):
        K.qgemm(a, w, bias, m0, sh, 0, qmin=-40000)
    with pytest.raises(ValueError, match="out_dtype"):
        K.qgemm(a, w, bias, m0, sh, 0, out_dtype=np.int32)
    with pytest.raises(ValueError, match="sh"):
        K.qgemm(a, w, bias, m0, np.zeros(4, np.int32), 0)
    with pytest.raises(ValueError, match="int16"):
        K.qgemm16(a.astype(np.int32), w, bias, m0, sh)
    with pytest.raises(ValueError, match="unexpected"):
        K.qgemm(a.astype(np.int8), w, bias, m0, sh, 0, out_dtype=np.int8)


# ---- convolution -------------------------------------------------------------------------------

CONV_CASES = [
    # (N, H, W, C, O, kh, kw, stride, padding, dilation, groups)
    (1, 5, 6, 3, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 7, 7, 8, 5, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),      # 1x1 as GEMM
    (1, 9, 8, 16, 16, 3, 3, (2, 2), (1, 0, 1, 2), (1, 1), 16),   # depthwise
    (1, 6, 6, 5, 5, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 5),      # depthwise 5x5
    (1, 8, 8, 6, 4, 3, 3, (1, 2), (0, 1, 2, 0), (2, 1), 2),      # grouped, dilated
    (1, 4, 4, 70, 70, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 70),   # depthwise, > 64 channels
    (1, 3, 3, 60, 7, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),     # K = 540
]


def _conv_case(rng, c):
    n, h, wd, ch, o, kh, kw, stride, padding, dilation, groups = c
    x = rng.integers(-32768, 32768, (n, h, wd, ch)).astype(np.int16)
    w = rng.integers(-127, 128, (o, kh, kw, ch // groups)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, o)
    m0 = rng.integers(2**30, 2**31, o).astype(np.int32)
    sh = np.full(o, 31 + int(np.log2(18000 * 64 * np.sqrt(kh * kw * ch / groups) / 2**14)),
                 np.int32)
    return x, w, bias, m0, sh, dict(stride=stride, padding=padding, dilation=dilation,
                                    groups=groups)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(isa, rng, case, monkeypatch):
    x, w, bias, m0, sh, geo = _conv_case(rng, case)
    for pad_value, zo, out_dtype in [(0, 0, None), (-1234, 77, None), (5, -3, np.int8)]:
        lo, hi = I16 if out_dtype is None else (-128, 127)
        want, acc = R.qconv2d(x, w, bias, m0, sh + (8 if out_dtype else 0), zo,
                              geo["stride"], geo["padding"], geo["dilation"], geo["groups"],
                              pad_value, lo, hi)
        for generic in ("0", "1"):
            monkeypatch.setenv("QENGINE_CONV_GENERIC", generic)
            for t in (1, 2, 3):
                got = K.qconv2d(x, w, bias, m0, sh + (8 if out_dtype else 0), zo,
                                pad_value=pad_value, num_threads=t, out_dtype=out_dtype, **geo)
                assert_same(got, want, acc, case=case, generic=generic, threads=t)


DW_CHANNELS = [1, 2, 7, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 97]


def _dw_check(x, w, bias, m0, sh, zo, geo, pad_value, out_dtype=None, qmin=None, qmax=None,
              threads=(1,)):
    lo, hi = I16 if out_dtype is None else (-128, 127)
    qmin, qmax = lo if qmin is None else qmin, hi if qmax is None else qmax
    want, acc = R.qconv2d(x, w, bias, m0, sh, zo, geo["stride"], geo["padding"],
                          geo["dilation"], geo["groups"], pad_value, qmin, qmax)
    for t in threads:
        got = K.qconv2d(x, w, bias, m0, sh, zo, pad_value=pad_value, num_threads=t,
                        out_dtype=out_dtype, qmin=qmin, qmax=qmax, **geo)
        assert_same(got, want, acc, geo=geo, c=x.shape[-1], zo=zo, threads=t)


def test_depthwise_channels_and_taps(isa, rng):
    # the SIMD depthwise kernels step 16 or 32 channels and 16 output pixels (W = 37 is
    # 16 + 16 + 5), two taps at a time (odd tap counts pair the last tap with zeros)
    kernels = [(1, 1), (1, 2), (3, 3), (2, 3), (5, 5), (1, 7), (8, 8)]
    for i, c in enumerate(DW_CHANNELS):
        kh, kw = kernels[i % len(kernels)]
        geo = dict(stride=(1 + i % 2, 1), padding=(kh // 2, kw // 2, kh // 2, kw // 2),
                   dilation=(1, 1 + (i % 3 == 0)), groups=c)
        x = rng.integers(-32768, 32768, (1 + i % 2, 5, 37, c)).astype(np.int16)
        w = rng.integers(-127, 128, (c, kh, kw, 1)).astype(np.int8)
        bias = rng.integers(-2**20, 2**20, c)
        m0 = rng.integers(2**30, 2**31, c).astype(np.int32)
        base = 31 + int(np.log2(18000 * 64 * np.sqrt(kh * kw) / 2**14))
        sh = np.clip(base + rng.integers(-3, 4, c), 1, 62).astype(np.int32)
        assert c == 1 or K.pack_conv2d16(w, bias, m0, sh, **geo).path == "depthwise"
        zo = int(rng.integers(-32768, 32768))
        _dw_check(x, w, bias, m0, sh, zo, geo, int(rng.integers(-32768, 32768)),
                  threads=(1, 2, 3))
        _dw_check(x, w, bias, m0, sh + 8, int(rng.integers(-128, 128)), geo, 0,
                  out_dtype=np.int8, qmin=-100, qmax=90)


def test_depthwise_extremes(isa, rng):
    # all-extreme inputs and weights: the largest tap sums (64 x 32768 x 127 ~ 2^28), a
    # bias that forces the int64 path, and requantization near both ends of the range
    for c, (kh, kw) in [(33, (8, 8)), (16, (3, 3)), (1, (3, 3)), (70, (5, 5))]:
        geo = dict(stride=(1, 1), padding=(1, 2, 1, 0), dilation=(1, 1), groups=c)
        for xv, wv in [(-32768, -127), (-32768, 127), (32767, 127)]:
            x = np.full((1, 9, 19, c), xv, np.int16)
            w = np.full((c, kh, kw, 1), wv, np.int8)
            w[::2] = -wv
            for bias in (np.zeros(c, np.int64), np.full(c, 2**40), np.full(c, -2**40 + 7)):
                acc64 = K.pack_conv2d16(w, bias, [2**30] * c, [40] * c, **geo).acc64
                assert acc64 == bool(abs(int(bias[0])) + kh * kw * 127 * 32768 > 2**31 - 1)
                for m0v, shv in [(2**30, 40), (2**31 - 1, 62), (2**30, 20), (2**30, 33)]:
                    _dw_check(x, w, bias, np.full(c, m0v, np.int32), np.full(c, shv, np.int32),
                              -5, geo, 32767 if xv < 0 else -32768, threads=(1, 3))


def test_conv2d_paths(rng):
    x, w, bias, m0, sh, geo = _conv_case(rng, CONV_CASES[2])
    assert K.pack_conv2d16(w, bias, m0, sh, **geo).path == "depthwise"
    x, w, bias, m0, sh, geo = _conv_case(rng, CONV_CASES[1])
    assert K.pack_conv2d16(w, bias, m0, sh, **geo).path == "gemm1x1"
    x, w, bias, m0, sh, geo = _conv_case(rng, CONV_CASES[-1])
    assert not K.pack_conv2d16(w, bias, m0, sh, **geo).acc64   # sum |w| ~ 540 * 64
    p = K.pack_conv2d16(np.full_like(w, 127), bias, m0, sh, **geo)
    assert p.acc64 and "acc64" in p.kernel_name
    want, _ = R.qconv2d(x, p_w := np.full_like(w, -127), bias, m0, sh, 0, geo["stride"],
                        geo["padding"], geo["dilation"], 1, -32768, *I16)
    assert_same(K.qconv2d(x, p_w, bias, m0, sh, 0, pad_value=-32768, **geo), want)


def test_conv2d_bad_input(rng):
    x, w, bias, m0, sh, geo = _conv_case(rng, CONV_CASES[0])
    with pytest.raises(ValueError, match="channels"):
        K.qconv2d(x[..., :2], w, bias, m0, sh, 0)
    with pytest.raises(ValueError, match="pad_value"):
        K.qconv2d(x, w, bias, m0, sh, 0, pad_value=40000)
    with pytest.raises(ValueError, match="bias"):
        K.qconv2d(x, w, bias[:2], m0, sh, 0)
    with pytest.raises(ValueError, match="output size"):
        K.qconv2d(x[:, :1, :1], w, bias, m0, sh, 0)


# ---- operators --------------------------------------------------------------------------------

def test_add(isa, rng):
    for i, (shape_a, shape_b) in enumerate(
            [((2, 5, 7, 3), (2, 5, 7, 3)), ((1, 3, 3, 17), (17,)), ((4100,), ()),
             ((1,), (1,)), ((17,), (2, 3, 17)), ((), (5, 8193)), ((3, 1, 5), (1, 4, 1)),
             ((2, 1, 3, 1), (1, 5, 1, 7)), ((1, 1), (1, 9)), ((2, 3, 1, 1), (1,))]):
        a = np.asarray(rng.integers(-32768, 32768, shape_a)).astype(np.int16)
        b = np.asarray(rng.integers(-32768, 32768, shape_b)).astype(np.int16)
        if i % 3 == 2:  # extremes
            a = np.where(rng.random(shape_a) < 0.5, -32768, 32767).astype(np.int16)
            b = np.where(rng.random(shape_b) < 0.5, -32768, 32767).astype(np.int16)
        for sa, za, sb, zb, sy, zy in [(2**-10, 0, 2**-12, 0, 2**-10, 0),
                                       (0.013, -100, 0.021, 300, 0.03, 17),
                                       (2**-8, 0, 2**-8, 0, 2**-9, 0)]:
            ka, kb, bias, m0, sh = _add_params(sa, za, sb, zb, sy)
            acc = a.astype(np.int64) * ka + b.astype(np.int64) * kb + bias
            want = R.requantize(acc, m0, sh, zy, -32768, 32767)
            for t in (1, 3):
                got = K.add(a, b, sa, za, sb, zb, sy, zy, num_threads=t)
                assert got.dtype == np.int16
                assert_same(got, want, shapes=(shape_a, shape_b), threads=t)
            if sa == 2**-10:  # fixed scheme: exactly the rounded real sum
                real = a.astype(np.float64) * sa + b.astype(np.float64) * sb
                assert_same(K.add(a, b, sa, za, sb, zb, sy, zy),
                            np.clip(np.floor(real / sy + 0.5), -32768, 32767))


def _raw_add(a, b, params, threads):
    """The native int16 add on raw (ka, kb, bias, m0, sh, zo, qmin, qmax), same-shape or a
    broadcast scalar, as K.add runs it."""
    from qengine import _native
    from qengine._kernels_ops import _broadcast
    out_shape, shape, sa, sb = _broadcast(a, b)
    return _native.qs16_add(shape, a.reshape(-1), sa, b.reshape(-1), sb, params,
                            threads).reshape(out_shape)


def test_add_extremes(isa, rng):
    # eq. 28 (the SIMD form of eq. 23) against eq. 5 on exact integers: every size around
    # the vector widths (8 / 16 / 32) and the 4096-element task chunk, both operands full,
    # b a scalar (addc) and a a scalar (swapped), extreme inputs and parameters: ka / kb
    # at 0 and 2^20, |bias| = 2^37, m0 at both ends, sh over [39, 62] (the range of eq. 23;
    # 39-41 take the 2^e prescale), zero points and clamps at the int16 ends; plus
    # parameters outside eq. 28's domain (sh < 32), which run the plain C
    sizes = EDGE + [47, 64, 95, 100, 127, 129, 4095, 4097, 4096 + 33]
    raw = [(2**20, 2**20, 0, 2**30, 62), (2**20, 0, 2**37, 2**31 - 1, 39),
           (0, 2**20, -2**37, 2**31 - 1, 40), (1, 2**20, -2**37, 2**30, 41),
           (2**20, 777777, 12345, 1518500250, 42), (2**20, 4096, 0, 2**30, 50),
           (2**20, 2**12, 0, 2**30, 32), (2**20, 2**20, 2**37, 2**31 - 1, 20),
           (3, 5, -7, 0, 45)]
    for i, n in enumerate(sizes):
        a = rng.integers(-32768, 32768, n).astype(np.int16)
        b = rng.integers(-32768, 32768, n).astype(np.int16)
        if i % 2:
            a[::3], b[1::3] = -32768, 32767
        if i % 5 == 4:
            a[:] = -32768 if i % 10 == 4 else 32767
        ka, kb, bias, m0, sh = raw[i % len(raw)]
        if i % 3 == 0:
            ka, kb = int(rng.integers(0, 2**20 + 1)), int(rng.integers(0, 2**20 + 1))
            bias = int(rng.integers(-2**37, 2**37 + 1))
            m0, sh = int(rng.integers(2**30, 2**31)), int(rng.integers(39, 63))
        zo = [0, -32768, 32767, int(rng.integers(-32768, 32768))][i % 4]
        qmin, qmax = [(-32768, 32767), (-1000, 20000), (zo, 32767)][i % 3]
        params = (ka, kb, bias, m0, sh, zo, qmin, qmax)
        for bb, aa in [(b, a), (b[:1].reshape(()), a), (b, a[:1].reshape(()))]:
            acc = aa.astype(np.int64) * ka + bb.astype(np.int64) * kb + bias
            want = R.requantize(acc, m0, sh, zo, qmin, qmax)
            for t in (1, 2, 3):
                assert_same(_raw_add(aa, bb, params, t), want, n=n, params=params, threads=t)
    # every scale ratio of eq. 23 (2^-12 .. 2^11) through K.add
    for i, ratio in enumerate([2.0**-12, 2.0**-12 * 1.37, 0.3, 1.0, 2.0**10.99, 1999.0]):
        sa, sb = 2.0**-10, 2.0**-10 * float(rng.uniform(1e-7, 1.5))
        sy = max(sa, sb) / ratio
        za, zb, zy = [(0, 0, 0), (-32768, 32767, 5), (123, -4567, -32768)][i % 3]
        n = 1000 + i
        a = rng.integers(-32768, 32768, n).astype(np.int16)
        b = rng.integers(-32768, 32768, n).astype(np.int16)
        ka, kb, bias, m0, sh = _add_params(sa, za, sb, zb, sy)
        want = R.requantize(a.astype(np.int64) * ka + b.astype(np.int64) * kb + bias, m0, sh,
                            zy, -32768, 32767)
        assert_same(K.add(a, b, sa, za, sb, zb, sy, zy, num_threads=2), want, ratio=ratio)


def _add_params(*args):
    from qengine._kernels_qs16 import add16_params
    return add16_params(*args)


def test_pooling(isa, rng):
    for n, h, w, c, k, s, p in [(1, 7, 9, 5, (3, 3), (2, 2), (1, 1, 1, 1)),
                                (2, 4, 4, 300, (2, 2), (2, 2), (0, 0, 0, 0)),
                                (1, 5, 5, 1, (5, 5), (1, 1), (2, 0, 1, 3))]:
        x = rng.integers(-32768, 32768, (n, h, w, c)).astype(np.int16)
        x.flat[::7] = -32768
        for t in (1, 2, 3):
            got = K.maxpool2d16(x, k, s, p, qmin=-30000, num_threads=t)
            want = _maxpool_ref(x, k, s, p, -30000, 32767)
            assert_same(got, want, op="maxpool", threads=t)
            for cip in (False, True):
                got = K.avgpool2d16(x, k, 2**-8, 3, 2**-9, -2, s, p, cip, num_threads=t)
                want = _avgpool_ref(x, k, s, p, 2**-8, 3, 2**-9, -2, cip)
                assert_same(got, want, op="avgpool", cip=cip, threads=t)
        got = K.global_avgpool16(x, 0.01, -5, 0.003, 9, num_threads=2)
        acc = x.astype(np.int64).sum(axis=(1, 2), keepdims=True) - h * w * -5
        m0, sh = Q.multiplier(0.01 / (0.003 * h * w))
        assert_same(got, R.requantize(acc, m0, sh, 9, -32768, 32767), op="gavgpool")


def test_pooling_extremes(isa, rng):
    # channel counts around the vector widths (8 / 16 / 32) and the 256-channel block,
    # windows of 1 to 36 pixels (the drivers pass 16 rows per ukernel call), inputs at the
    # int16 ends, zero points and scale ratios at the ends, threads 1-3
    chans = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 257]
    for i, c in enumerate(chans):
        k = [(1, 1), (3, 3), (2, 5), (6, 6), (5, 4)][i % 5]
        h, w = k[0] + i % 3, k[1] + 2
        x = rng.integers(-32768, 32768, (1 + i % 2, h, w, c)).astype(np.int16)
        fill = i % 3
        if fill < 2:
            x[:] = -32768 if fill == 0 else 32767
            x.flat[::5] = 32767 if fill == 0 else -32768
        s, p = (1 + i % 2, 2 - i % 2), (0, k[1] // 2, k[0] // 2, 0) if i % 2 else (0, 0, 0, 0)
        zx, zy = [(0, 0), (-32768, 32767), (32767, -32768), (123, -45)][i % 4]
        sx, sy = [(2**-8, 2**-8), (1.0, 2.0**-12), (2.0**-12, 1.0), (0.37, 0.011)][i % 4]
        qmin, qmax = [(-32768, 32767), (-100, 30000)][i % 2]
        for t in (1, 2, 3):
            got = K.maxpool2d16(x, k, s, p, qmin=qmin, qmax=qmax, num_threads=t)
            assert_same(got, _maxpool_ref(x, k, s, p, qmin, qmax), op="maxpool", c=c, k=k,
                        threads=t)
            cip = bool(i % 2)
            got = K.avgpool2d16(x, k, sx, zx, sy, zy, s, p, cip, num_threads=t)
            assert_same(got, _avgpool_ref(x, k, s, p, sx, zx, sy, zy, cip), op="avgpool",
                        c=c, k=k, threads=t)
            got = K.global_avgpool16(x, sx, zx, sy, zy, num_threads=t)
            acc = x.astype(np.int64).sum(axis=(1, 2), keepdims=True) - h * w * zx
            m0, sh = Q.multiplier(sx / (sy * h * w))
            assert_same(got, R.requantize(acc, m0, sh, zy, -32768, 32767), op="gavgpool",
                        c=c, threads=t)


def _maxpool_ref(x, k, s, p, qmin, qmax):
    n, h, w, c = x.shape
    (kh, kw), (sh_, sw), (pt, pl, pb, pr) = k, s, p
    oh, ow = (h + pt + pb - kh) // sh_ + 1, (w + pl + pr - kw) // sw + 1
    out = np.zeros((n, oh, ow, c), np.int64)
    for i in range(oh):
        for j in range(ow):
            y0, y1 = max(i * sh_ - pt, 0), min(i * sh_ - pt + kh, h)
            x0, x1 = max(j * sw - pl, 0), min(j * sw - pl + kw, w)
            out[:, i, j, :] = x[:, y0:y1, x0:x1, :].max(axis=(1, 2))     # eq. 14
    return np.clip(out, qmin, qmax)


def _avgpool_ref(x, k, s, p, sx, zx, sy, zy, cip):
    n, h, w, c = x.shape
    (kh, kw), (sh_, sw), (pt, pl, pb, pr) = k, s, p
    oh, ow = (h + pt + pb - kh) // sh_ + 1, (w + pl + pr - kw) // sw + 1
    m0s, shs = Q.avgpool_params(sx, sy, kh * kw)
    out = np.zeros((n, oh, ow, c), np.int64)
    for i in range(oh):
        for j in range(ow):
            y0, y1 = max(i * sh_ - pt, 0), min(i * sh_ - pt + kh, h)
            x0, x1 = max(j * sw - pl, 0), min(j * sw - pl + kw, w)
            acc = (x[:, y0:y1, x0:x1, :].astype(np.int64) - zx).sum(axis=(1, 2))
            cnt = kh * kw if cip else (y1 - y0) * (x1 - x0)
            out[:, i, j, :] = R.requantize(acc, m0s[cnt], shs[cnt], zy, -32768, 32767)
    return out


def test_quantize_dequantize(isa, rng):
    x = (rng.standard_normal(5000) * 300).astype(np.float32)
    x[:6] = [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.5 * 2**-8]
    for scale, zp in [(2**-8, 0), (0.0137, -200)]:
        inv = np.float32(1.0 / scale)
        u = (x * inv).astype(np.float32) + np.float32(0.5)
        u = np.where(np.isnan(u), np.float32(0), u)
        want = np.clip(np.floor(u), -32768 - zp, 32767 - zp) + zp
        for t in (1, 3):
            got = K.quantize16(x, scale, zp, num_threads=t)
            assert got.dtype == np.int16
            assert_same(got, want, scale=scale, zp=zp)
            back = K.dequantize16(got, scale, zp, num_threads=t)
            assert_same(back, np.float32(scale) * (got.astype(np.int32) - zp).astype(np.float32))


def test_requantize_both_ways(isa, rng):
    x16 = rng.integers(-32768, 32768, 3001).astype(np.int16)
    x8 = rng.integers(-128, 128, 3001).astype(np.int8)
    for x, zi in [(x16, 0), (x16, -32768), (x8, 0), (x8, -7)]:
        for sx, sy, zo, dt in [(2**-12, 2**-5, 0, np.int8), (2**-5, 2**-12, 0, np.int16),
                               (0.01, 0.033, 5, np.int8), (0.5, 0.002, -300, np.int16)]:
            m0, sh = Q.requant_params(sx, sy)
            lo, hi = (-128, 127) if dt == np.int8 else I16
            want = R.requantize(x.astype(np.int64) - zi, m0, sh, zo, lo, hi)
            for t in (1, 2):
                got = K.requantize16(x, sx, zi, sy, zo, out_dtype=dt, num_threads=t)
                assert got.dtype == dt
                assert_same(got, want, dtype=x.dtype, out=dt)


def test_ops_bad_input(rng):
    x = rng.integers(-100, 100, (1, 4, 4, 3)).astype(np.int16)
    with pytest.raises(ValueError):
        K.add(x, x[:, :2, :3], 1.0, 0, 1.0, 0, 1.0, 0)
    with pytest.raises(ValueError, match="y_zero_point"):
        K.add(x, x, 1.0, 0, 1.0, 0, 1.0, 40000)
    with pytest.raises(ValueError):
        K.maxpool2d16(x.astype(np.int8), 2)
    with pytest.raises(ValueError, match="padding"):
        K.avgpool2d16(x, 2, 1.0, 0, 1.0, 0, padding=2)
    with pytest.raises(ValueError, match="float32"):
        K.quantize16(x, 1.0)
    with pytest.raises(ValueError, match="scale"):
        K.dequantize16(x, -1.0)
    with pytest.raises(ValueError, match="int8 or int16"):
        K.requantize16(x.astype(np.int32), 1.0, 0, 1.0, 0)
    with pytest.raises(ValueError, match="x_zero_point"):
        K.requantize16(x.astype(np.int8), 1.0, 200, 1.0, 0)


def test_kernel_names(isa):
    for op in ("dwconv", "add", "maxpool", "avgpool", "gavgpool", "quantize", "dequantize",
               "requantize"):
        assert K.qs16_kernel_name(op).endswith("__" + ("neon" if isa == "neondot" else isa))
    assert K.qs16_kernel_name("nope") == ""
