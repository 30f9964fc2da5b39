"""Format 1.1 int16 activations run by the runtime (qengine/ops.py + csrc/runtime/
steps_qs16.c): every int16 op and variant bit-exact against the numpy reference of the
16x8 kernels (tests/reference_int16.py) or the kernels' validated Python API, on every
ISA variant and thread counts 1, 2, 3; format checks for int16 values."""
import numpy as np
import pytest

import qengine
from qengine import ModelFormatError
from qengine import kernels as K
from qengine import quant as Q
from qengine.builder import GraphBuilder

import reference_int16 as R16


def _x16(rng, shape, amp=20000):
    return rng.integers(-amp, amp + 1, size=shape).astype(np.int16)


def _requant(rng, n, sh=(40, 46)):
    m0 = rng.integers(2**30, 2**31, size=n).astype(np.int32)
    return m0, rng.integers(*sh, size=n).astype(np.int32)


def _fc(rng, out_dtype):
    g = GraphBuilder("fixed")
    g.input("x", (3, 37), 2.0**-12, 0, "int16")
    w = rng.integers(-127, 128, size=(13, 37)).astype(np.int8)
    bias = rng.integers(-2**35, 2**35, size=13).astype(np.int64)
    m0, sh = _requant(rng, 13)
    g.value("y", (3, 13), 2.0**-10, 0, out_dtype)
    qmin, qmax = (-30000, 30000) if out_dtype == "int16" else (-100, 120)
    g.node("FullyConnected", "fc", ["x"], ["y"], dict(weight=w, bias=bias, m0=m0, sh=sh),
           qmin=qmin, qmax=qmax)
    g.output("y")

    def ref(x):
        return R16.qgemm(x, w, bias, m0, sh, 0, qmin, qmax)[0]
    return g, {"x": _x16(rng, (3, 37))}, ref


def _conv(rng, out_dtype, c=8, o=16, k=3, groups=1, stride=(1, 1), pad=(1, 1, 1, 1),
          dil=(1, 1)):
    g = GraphBuilder("fixed")
    shape = (2, 9, 7, c)
    g.input("x", shape, 2.0**-12, 0, "int16")
    w = rng.integers(-127, 128, size=(o, k, k, c // groups)).astype(np.int8)
    bias = rng.integers(-2**33, 2**33, size=o).astype(np.int64)
    m0, sh = _requant(rng, o)
    oh = (9 + pad[0] + pad[2] - dil[0] * (k - 1) - 1) // stride[0] + 1
    ow = (7 + pad[1] + pad[3] - dil[1] * (k - 1) - 1) // stride[1] + 1
    g.value("y", (2, oh, ow, o), 2.0**-10, 0, out_dtype)
    lo, hi = (-32768, 32767) if out_dtype == "int16" else (-128, 127)
    g.node("Conv2D", "conv", ["x"], ["y"], dict(weight=w, bias=bias, m0=m0, sh=sh),
           stride=list(stride), padding=list(pad), dilation=list(dil), groups=groups,
           qmin=lo, qmax=hi)
    g.output("y")

    def ref(x):
        return R16.qconv2d(x, w, bias, m0, sh, 0, stride, pad, dil, groups, 0, lo, hi)[0]
    return g, {"x": _x16(rng, shape)}, ref


def _unary(op, shape, out_shape, sx, sy, ref, **attrs):
    def make(rng):
        g = GraphBuilder("fixed")
        g.input("x", shape, sx, 0, "int16")
        g.value("y", out_shape, sy, 0, "int16")
        g.node(op, "op", ["x"], ["y"], **attrs)
        g.output("y")
        return g, {"x": _x16(rng, shape)}, ref
    return make


def _add(shape_a, shape_b):
    """Add with numpy broadcasting; the reference is eq. 23 on exact int64 numpy sums."""
    def make(rng):
        g = GraphBuilder("fixed")
        shape_y = np.broadcast_shapes(shape_a, shape_b)
        g.input("a", shape_a, 2.0**-10, 0, "int16")
        g.input("b", shape_b, 2.0**-12, 0, "int16")
        g.value("y", shape_y, 2.0**-9, 0, "int16")
        g.node("Add", "add", ["a", "b"], ["y"], qmin=-20000, qmax=32767)
        g.output("y")

        def ref(a, b):
            from qengine._kernels_qs16 import add16_params
            ka, kb, bias, m0, sh = add16_params(2.0**-10, 0, 2.0**-12, 0, 2.0**-9)
            acc = a.astype(np.int64) * ka + b.astype(np.int64) * kb + bias
            return R16.requantize(acc, m0, sh, 0, -20000, 32767)
        return g, {"a": _x16(rng, shape_a, 32768), "b": _x16(rng, shape_b, 32767)}, ref
    return make


def _requant_case(din, dout, sx, sy):
    def make(rng):
        g = GraphBuilder("mixed")
        shape = (4, 3, 9)
        zi = -5 if din == "int8" else 0
        zo = 7 if dout == "int8" else 0
        g.input("x", shape, sx, zi, din)
        g.value("y", shape, sy, zo, dout)
        g.node("Requantize", "rq", ["x"], ["y"])
        g.output("y")
        x = rng.integers(-128, 128, size=shape).astype(np.int8) if din == "int8" \
            else _x16(rng, shape)

        def ref(x):
            return K.requantize16(x, sx, zi, sy, zo, np.dtype(dout))
        return g, {"x": x}, ref
    return make


POOL = (2, 9, 10, 5)
CASES = {
    "fc_int16_out": lambda rng: _fc(rng, "int16"),
    "fc_int8_out": lambda rng: _fc(rng, "int8"),
    "conv3x3": lambda rng: _conv(rng, "int16"),
    "conv3x3_int8_out": lambda rng: _conv(rng, "int8"),
    "conv1x1": lambda rng: _conv(rng, "int16", k=1, pad=(0, 0, 0, 0)),
    "conv_stride2_dilated": lambda rng: _conv(rng, "int16", stride=(2, 1), dil=(1, 2),
                                              pad=(2, 0, 1, 2)),
    "depthwise3x3": lambda rng: _conv(rng, "int16", c=8, o=8, groups=8),
    "depthwise_mult2": lambda rng: _conv(rng, "int16", c=6, o=12, groups=6),
    "grouped": lambda rng: _conv(rng, "int16", c=8, o=6, groups=2),
    "add": _add((2, 5, 3, 7), (2, 5, 3, 7)),
    "add_bcast_channels": _add((2, 5, 3, 7), (7,)),
    "add_bcast_a": _add((1, 1, 3, 1), (2, 5, 3, 4099)),     # a broadcast, rows > one chunk
    "add_bcast_both": _add((2, 1, 3, 1), (1, 5, 1, 7)),
    "add_bcast_scalar": _add((1,), (3, 1)),
    "maxpool": _unary("MaxPool2D", POOL, (2, 5, 5, 5), 2.0**-8, 2.0**-8,
                      lambda x: K.maxpool2d16(x, 3, 2, (1, 1, 1, 0), -30000, 30000),
                      kernel=[3, 3], stride=[2, 2], padding=[1, 1, 1, 0], qmin=-30000,
                      qmax=30000),
    "avgpool": _unary("AvgPool2D", POOL, (2, 5, 5, 5), 2.0**-8, 2.0**-8,
                      lambda x: K.avgpool2d16(x, 3, 2.0**-8, 0, 2.0**-8, 0, 2, (1, 1, 1, 0)),
                      kernel=[3, 3], stride=[2, 2], padding=[1, 1, 1, 0]),
    "avgpool_cip": _unary("AvgPool2D", POOL, (2, 9, 10, 5), 2.0**-8, 2.0**-7,
                          lambda x: K.avgpool2d16(x, 3, 2.0**-8, 0, 2.0**-7, 0, 1, 1, True),
                          kernel=[3, 3], stride=[1, 1], padding=[1, 1, 1, 1],
                          count_include_pad=1),
    "gavgpool": _unary("GlobalAvgPool", POOL, (2, 1, 1, 5), 2.0**-8, 2.0**-8,
                       lambda x: K.global_avgpool16(x, 2.0**-8, 0, 2.0**-8, 0)),
    "reshape": _unary("Reshape", POOL, (2, 450), 2.0**-8, 2.0**-8,
                      lambda x: x.reshape(2, 450)),
    "requant_8_to_16": _requant_case("int8", "int16", 0.05, 2.0**-12),
    "requant_16_to_8": _requant_case("int16", "int8", 2.0**-12, 0.07),
    "requant_16_to_16": _requant_case("int16", "int16", 2.0**-12, 2.0**-9),
}


def _save(tmp_path, g, name="m.qmodel"):
    path = tmp_path / name
    g.save(path)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_int16_op_bit_exact(case, isa, tmp_path):
    rng = np.random.default_rng(sorted(CASES).index(case))
    g, feeds, ref = CASES[case](rng)
    path = _save(tmp_path, g)
    want = np.asarray(ref(*feeds.values()))
    for threads in (1, 2, 3):
        m = qengine.load(path, num_threads=threads)
        got = m.run(feeds if len(feeds) > 1 else next(iter(feeds.values())), raw=True)
        if isinstance(got, dict):
            got = got["y"]
        assert got.dtype == want.dtype or got.dtype == np.dtype(g.values["y"]["dtype"])
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64),
                                      err_msg=f"{case} {isa} threads={threads}")


def test_int16_float_boundary(tmp_path):
    """Graph input and output int16: float in is quantized with eq. 17 (int16 range), out
    dequantized with eq. 18."""
    rng = np.random.default_rng(3)
    g = GraphBuilder("fixed")
    g.input("x", (2, 9), 2.0**-12, 0, "int16")
    g.value("y", (2, 9), 2.0**-10, 0, "int16")
    g.node("Requantize", "rq", ["x"], ["y"])
    g.output("y")
    m = qengine.load(_save(tmp_path, g))
    x = rng.normal(0, 3, size=(2, 9)).astype(np.float32)
    q = K.quantize16(x, 2.0**-12)
    want = K.dequantize16(K.requantize16(q, 2.0**-12, 0, 2.0**-10, 0), 2.0**-10)
    np.testing.assert_array_equal(m.run(x), want)


def test_mixed_chain(tmp_path, isa):
    """int8 in -> Requantize to int16 -> FC16 -> int8 out -> FC (int8): one plan."""
    rng = np.random.default_rng(5)
    g = GraphBuilder("mixed")
    g.input("x", (2, 16), 0.05, -3, "int8")
    g.value("x16", (2, 16), 2.0**-12, 0, "int16")
    g.node("Requantize", "up", ["x"], ["x16"])
    w = rng.integers(-127, 128, size=(8, 16)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, size=8).astype(np.int32)
    m0, sh = _requant(rng, 8, (30, 34))
    g.value("h", (2, 8), 0.1, 4, "int8")
    g.node("FullyConnected", "fc16", ["x16"], ["h"], dict(weight=w, bias=bias, m0=m0, sh=sh))
    w2 = rng.integers(-127, 128, size=(4, 8)).astype(np.int8)
    b2 = rng.integers(-500, 500, size=4).astype(np.int32)
    m2, s2 = _requant(rng, 4, (38, 40))
    g.value("y", (2, 4), 0.2, 0, "int8")
    g.node("FullyConnected", "fc8", ["h"], ["y"], dict(weight=w2, bias=b2, m0=m2, sh=s2))
    g.output("y")
    path = _save(tmp_path, g)
    x = rng.integers(-128, 128, size=(2, 16)).astype(np.int8)
    x16 = K.requantize16(x, 0.05, -3, 2.0**-12, 0)
    h = R16.qgemm(x16, w, bias, m0, sh, 4, -128, 127)[0].astype(np.int8)
    y = K.qgemm(h, w2, b2, m2, s2, 0)
    for threads in (1, 2, 3):
        got = qengine.load(path, num_threads=threads).run(x, raw=True)
        np.testing.assert_array_equal(got, y)


def _broken(tmp_path, edit):
    g, _, _ = _fc(np.random.default_rng(0), "int16")
    edit(g)
    return _save(tmp_path, g)


@pytest.mark.parametrize("edit, match", [
    (lambda g: g.values["x"].update(zero_point=3), "int16 value must have zero point 0"),
    (lambda g: g.values["y"].update(zero_point=-1), "int16 value must have zero point 0"),
    (lambda g: g.values["y"].update(dtype="int32"), "must be int16 or int8"),
    (lambda g: g.values["x"].update(dtype="int8"), "must be int8"),
    (lambda g: g.constants.update({"fc.bias": np.full(13, 2**41, np.int64)}), "2\\^40"),
    (lambda g: g.constants.update({"fc.bias": np.zeros(13, np.int16)}), "int32 or int64"),
    (lambda g: g.nodes[0]["attrs"].update(qmax=40000), "qmax"),
])
def test_int16_format_errors(tmp_path, edit, match):
    with pytest.raises(ModelFormatError, match=match):
        qengine.load(_broken(tmp_path, edit))


def test_int16_dtype_mismatches(tmp_path):
    g = GraphBuilder()
    g.input("a", (2, 3), 2.0**-8, 0, "int16")
    g.input("b", (2, 3), 0.1, 0, "int8")
    g.value("y", (2, 3), 2.0**-8, 0, "int16")
    g.node("Add", "add", ["a", "b"], ["y"])
    g.output("y")
    with pytest.raises(ModelFormatError, match="must be int16"):
        qengine.load(_save(tmp_path, g))
    g = GraphBuilder()
    g.input("x", (2, 3, 4, 5), 2.0**-8, 0, "int16")
    g.value("y", (2, 3, 4, 5), 2.0**-8, 0, "int8")
    g.node("MaxPool2D", "mp", ["x"], ["y"], kernel=[1, 1])
    g.output("y")
    with pytest.raises(ModelFormatError, match="must be int16"):
        qengine.load(_save(tmp_path, g, "b.qmodel"))
    g = GraphBuilder()
    g.input("x", (2, 8), 2.0**-8, 0, "int16")
    g.value("y", (2, 8), 2.0**-8, 0, "int16")
    g.node("Lut", "lut", ["x"], ["y"], {"table": np.zeros(256, np.int8)})
    g.output("y")
    with pytest.raises(ModelFormatError, match="must be int8"):
        qengine.load(_save(tmp_path, g, "c.qmodel"))
    g = GraphBuilder()
    g.input("a", (2, 3), 2.0**-8, 0, "int16")
    g.input("b", (2, 4), 2.0**-8, 0, "int16")
    g.value("y", (2, 3), 2.0**-8, 0, "int16")
    g.node("Add", "add", ["a", "b"], ["y"])
    g.output("y")
    with pytest.raises(ModelFormatError, match="do not broadcast"):
        qengine.load(_save(tmp_path, g, "d.qmodel"))


@pytest.mark.parametrize("c", [1, 7, 8, 16, 33, 70])
def test_depthwise16_per_channel_requant(isa, c):
    """The depthwise path's eq. 5 (SIMD in some variants) with a different m0/sh per
    channel over the whole range, m0 = 0 included, int16 and int8 outputs."""
    rng = np.random.default_rng(c)
    x = _x16(rng, (2, 5, 6, c), 32767)
    w = rng.integers(-127, 128, size=(c, 3, 3, 1)).astype(np.int8)
    bias = rng.integers(-2**30, 2**30, size=c)
    m0 = rng.integers(0, 2**31, size=c).astype(np.int32)
    m0[0] = 0
    sh = rng.integers(1, 63, size=c).astype(np.int32)
    for out_dtype, (lo, hi) in ((np.int16, (-30000, 32767)), (np.int8, (-100, 127))):
        want = R16.qconv2d(x, w, bias, m0, sh, 3, (1, 1), (1, 1, 1, 1), (1, 1), c, 0, lo,
                           hi)[0]
        for t in (1, 2, 3):
            got = K.qconv2d16(x, w, bias, m0, sh, 3, padding=(1, 1, 1, 1), groups=c, qmin=lo,
                              qmax=hi, num_threads=t, out_dtype=out_dtype)
            np.testing.assert_array_equal(got.astype(np.int64), want)
