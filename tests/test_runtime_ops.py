"""Every version-1 op of docs/FORMAT.md run end to end by the runtime, bit-exact against
the numpy reference, on every ISA variant and thread count; small real-world blocks."""
import numpy as np
import pytest

import qengine
from qengine import ModelFormatError

from helpers import assert_same
from netgen import Net


def _conv(kw):
    def build(net):
        args = dict(kw)
        x = net.input((2, 9, 11, args.pop("c", 8)))
        net.conv(x, **args)
    return build


CASES = {
    "conv3x3": _conv(dict(o=16, k=3, padding=(1, 1, 1, 1))),
    "conv3x3_stride2_asym_pad": _conv(dict(o=12, k=3, stride=2, padding=(0, 1, 1, 0))),
    "conv_rect_stride_dilation": _conv(dict(o=5, k=(3, 2), stride=(1, 2), dilation=(2, 1),
                                            padding=(2, 0, 1, 1))),
    "conv1x1_gemm": _conv(dict(o=24, k=1, clamp=(-5, 100))),
    "conv1x1_stride2": _conv(dict(o=7, k=1, stride=2)),
    "depthwise3x3": _conv(dict(o=8, k=3, groups=8, padding=(1, 1, 1, 1))),
    "depthwise3x3_stride2": _conv(dict(c=19, o=19, k=3, groups=19, stride=2,
                                       padding=(1, 1, 1, 1), clamp=(0, 90))),
    "depthwise5x5_multiplier2": _conv(dict(c=6, o=12, k=5, groups=6, padding=(2, 2, 2, 2))),
    "grouped": _conv(dict(c=8, o=6, k=3, groups=2, padding=(1, 0, 1, 0))),
    "conv_c1_o1": _conv(dict(c=1, o=1, k=2)),
}


def _register(fn):
    CASES[fn.__name__] = fn
    return fn


@_register
def fc(net):
    net.fc(net.input((3, 37)), 13, clamp=(-10, 127))


@_register
def maxpool(net):
    x = net.input((2, 9, 10, 5))
    net.maxpool(x, 3, 2, (1, 1, 1, 0), clamp=(-20, 120))


@_register
def avgpool(net):
    x = net.input((1, 8, 7, 6))
    net.avgpool(x, (3, 2), (2, 1), (1, 1, 2, 0))


@_register
def avgpool_count_include_pad(net):
    x = net.input((2, 6, 6, 3))
    net.avgpool(x, 3, 1, (1, 1, 1, 1), count_include_pad=1, clamp=(-50, 50))


@_register
def global_avgpool(net):
    net.gavgpool(net.input((3, 7, 5, 11)), clamp=(0, 127))


@_register
def add_same_shape(net):
    a, b = net.input((2, 4, 5, 8)), net.input((2, 4, 5, 8))
    net.add(a, b, clamp=(-100, 100))


@_register
def add_broadcast_channels(net):
    net.add(net.input((2, 4, 5, 8)), net.input((8,)))


@_register
def add_broadcast_both(net):
    net.add(net.input((1, 4, 1, 8)), net.input((3, 1, 5, 1)))


@_register
def mul_broadcast(net):
    net.mul(net.input((2, 4, 5, 8)), net.input((2, 1, 1, 8)))


@_register
def mul_same_shape(net):
    net.mul(net.input((33,)), net.input((33,)), clamp=(-64, 64))


@_register
def concat_differing_scales(net):
    a = net.input((2, 3, 4, 5), scale=0.1, zp=3)
    b = net.input((2, 3, 4, 7), scale=0.05, zp=-9)
    c = net.input((2, 3, 4, 1), scale=0.1, zp=3)
    net.concat([a, b, c], scale=0.1, zp=3)


@_register
def lut(net):
    net.lut(net.input((2, 50)), "tanh")


@_register
def requantize(net):
    net.requantize(net.input((4, 3, 9)), clamp=(-120, 60))


@_register
def softmax_float(net):
    net.softmax(net.input((3, 10)))


@_register
def softmax_int8(net):
    net.softmax(net.input((2, 2, 17)), int8_out=True)


@_register
def reshape_between_conv_and_fc(net):
    x = net.input((2, 4, 4, 3))
    y = net.conv(x, 6, 3, padding=(1, 1, 1, 1))
    net.fc(net.reshape(y, (2, 96)), 10)


@_register
def mobilenet_block(net):
    """expand 1x1 -> depthwise 3x3 -> project 1x1 -> residual add (ReLU6 clamps)."""
    x = net.input((1, 10, 10, 16))
    e = net.conv(x, 96, 1, clamp=(-128, 60), zp=-128)
    d = net.conv(e, 96, 3, groups=96, padding=(1, 1, 1, 1), clamp=(-128, 60), zp=-128)
    p = net.conv(d, 16, 1)
    net.add(x, p)


@_register
def resnet_block(net):
    """conv3x3-relu -> conv3x3 (+ strided 1x1 shortcut) -> add-relu -> maxpool -> gap -> fc
    -> softmax."""
    x = net.input((1, 12, 12, 8))
    a = net.conv(x, 16, 3, stride=2, padding=(1, 1, 1, 1), clamp=(-128, 127), zp=-128)
    b = net.conv(a, 16, 3, padding=(1, 1, 1, 1))
    s = net.conv(x, 16, 1, stride=2)
    y = net.add(b, s, clamp=(-128, 127), zp=-128)
    y = net.maxpool(y, 2, 2)
    g = net.gavgpool(y)
    f = net.fc(net.reshape(g, (1, 16)), 10)
    net.softmax(f)


def _built(name, tmp_path):
    net = Net(seed=sum(map(ord, name)))
    CASES[name](net)
    return net, net.save(tmp_path / f"{name}.qmodel")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_reference(isa, tmp_path, name, threads):
    net, path = _built(name, tmp_path)
    m = qengine.load(path, num_threads=threads)
    feeds = net.random_inputs()
    want = net.reference(feeds)
    got = m.run(feeds, raw=True)
    assert set(got) == set(want)
    for v in want:
        assert_same(got[v], want[v], op=name, value=v, isa=isa, threads=threads)


def test_conv_generic_path_equals_specialisations(tmp_path, monkeypatch):
    """QENGINE_CONV_GENERIC=1 forces im2col at load; same results."""
    for name in ("conv1x1_gemm", "depthwise3x3_stride2", "mobilenet_block"):
        net, path = _built(name, tmp_path)
        feeds = net.random_inputs()
        fast = qengine.load(path).run(feeds, raw=True)
        monkeypatch.setenv("QENGINE_CONV_GENERIC", "1")
        slow = qengine.load(path)
        monkeypatch.delenv("QENGINE_CONV_GENERIC")
        conv_kernels = [k for n, k in zip(slow._plan.nodes, slow._steps.names)
                        if n.op == "Conv2D"]
        assert conv_kernels and not any("dwconv" in k for k in conv_kernels), conv_kernels
        for v, want in net.reference(feeds).items():
            assert_same(fast[v], want)
            assert_same(slow.run(feeds, raw=True)[v], want)


def test_profile_names_every_kernel(tmp_path):
    net, path = _built("resnet_block", tmp_path)
    m = qengine.load(path)
    prof = m.profile(net.random_inputs(), runs=3, raw=True)
    ops = [r[0] for r in prof]
    assert ops == ["Conv2D", "Conv2D", "Conv2D", "Add", "MaxPool2D", "GlobalAvgPool",
                   "FullyConnected", "Softmax"]
    assert all(r[2].split("+")[-1].startswith("qe_") for r in prof), prof


def test_float_in_float_out(tmp_path):
    """run(x) quantizes with eq. 17 and dequantizes with eq. 18 in C; Softmax float32
    outputs come back as they are."""
    import reference_ops as RO
    net, path = _built("resnet_block", tmp_path)
    net2, path2 = _built("mobilenet_block", tmp_path)
    for n, p in ((net, path), (net2, path2)):
        m = qengine.load(p)
        (xi,) = m.inputs
        x = np.random.default_rng(0).normal(0, 3, size=xi.shape).astype(np.float32)
        xq = RO.quantize(x, xi.scale, xi.zero_point)
        (o,) = m.outputs
        want = n.reference({xi.name: xq})[o.name]
        if o.dtype == "int8":
            want = RO.dequantize(want, o.scale, o.zero_point)
        got = m.run(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_several_inputs_and_outputs(tmp_path):
    net = Net(seed=5)
    a, b = net.input((1, 4, 4, 3)), net.input((1, 4, 4, 2))
    c = net.concat([a, b])
    y1 = net.conv(c, 4, 1)
    y2 = net.softmax(net.reshape(c, (16, 5)))
    net.output(y2, y1, a)
    m = qengine.load(net.save(tmp_path / "multi.qmodel"), num_threads=2)
    feeds = net.random_inputs()
    want = net.reference(feeds)
    got = m.run(feeds, raw=True)
    assert list(got) == [y2, y1, a]
    for v in want:
        assert_same(got[v], want[v])
    with pytest.raises(ValueError, match="pass a dict"):
        m.run(feeds[a])
    floats = m.run({k: v.astype(np.float32) for k, v in feeds.items()})
    assert all(v.dtype == np.float32 for v in floats.values())


def test_non_contiguous_input_is_accepted(tmp_path):
    net, path = _built("conv3x3", tmp_path)
    m = qengine.load(path)
    (xi,) = m.inputs
    x = np.random.default_rng(1).integers(-128, 128, size=xi.shape[:3] + (16,), dtype=np.int8)
    x = x[..., ::2]
    assert not x.flags.c_contiguous
    assert_same(m.run(x, raw=True), net.reference({xi.name: np.ascontiguousarray(x)})
                [m.outputs[0].name])


def test_concurrent_runs_on_a_conv_model(tmp_path):
    import threading
    net, path = _built("mobilenet_block", tmp_path)
    m = qengine.load(path, num_threads=2)
    feeds = [net.random_inputs() for _ in range(4)]
    wants = [net.reference(f) for f in feeds]
    errors = []

    def worker(t):
        for rep in range(100):
            j = (t + rep) % 4
            got = m.run(feeds[j], raw=True)
            if any(not np.array_equal(got[v], wants[j][v]) for v in got):
                errors.append((t, rep))

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_empty_batch_runs(tmp_path):
    net = Net()
    x = net.input((0, 5))
    net.fc(x, 3)
    m = qengine.load(net.save(tmp_path / "empty.qmodel"))
    assert m.run(np.zeros((0, 5), np.int8), raw=True).shape == (0, 3)


def _all_ops_net():
    net = Net(seed=9)
    x = net.input((1, 8, 8, 4))
    c = net.conv(x, 8, 3, padding=(1, 1, 1, 1))
    d = net.conv(c, 8, 3, groups=8, stride=2, padding=(1, 1, 1, 1))
    p = net.maxpool(c, 2, 2)
    a = net.avgpool(c, 2, 2)
    s = net.add(d, p)
    m = net.mul(s, a)
    cat = net.concat([m, net.lut(d), net.requantize(a)])
    g = net.gavgpool(cat)
    f = net.fc(net.reshape(g, (1, 24)), 5)
    net.output(net.softmax(f), net.softmax(f, int8_out=True))
    return net


def test_cli_info_and_bench_profile_every_op(tmp_path, capsys):
    from qengine import cli
    from qengine.ops import SPECS
    path = _all_ops_net().save(tmp_path / "all.qmodel")
    assert cli.main(["info", str(path)]) == 0
    info = capsys.readouterr().out
    assert all(op in info for op in SPECS), info
    assert cli.main(["bench", str(path), "--runs", "3", "--warmup", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    assert all(op in out for op in SPECS if op != "Reshape"), out
    assert "latency ms" in out and "total" in out


def test_all_ops_graph_matches_reference(isa, tmp_path):
    net = _all_ops_net()
    m = qengine.load(net.save(tmp_path / "all.qmodel"), num_threads=2)
    feeds = net.random_inputs()
    want = net.reference(feeds)
    got = m.run(feeds, raw=True)
    for v in want:
        assert_same(got[v], want[v], value=v)
