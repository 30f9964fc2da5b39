"""Reliability under stress (docs/RELIABILITY.md): concurrent run() calls, thread counts,
long soaks (RSS and file descriptors), numerics at the extremes, the loader's memory limit
and the converter's int32 accumulator bound.

QENGINE_SOAK=full runs the full soak counts (100,000 runs, 1,000 loads); CI runs fewer."""
import gc
import os
import threading

import numpy as np
import pytest

import qengine
from qengine import ModelFormatError
from qengine.builder import GraphBuilder

from helpers import UNDER_ASAN, assert_same
import modelgen
import reference as R

FULL = os.environ.get("QENGINE_SOAK", "") == "full"
SOAK_RUNS = 100_000 if FULL else 20_000
SOAK_LOADS = 1_000 if FULL else 200


# ---- concurrency ------------------------------------------------------------------------

def _models(tmp_path, count):
    out = []
    for i in range(count):
        rng = np.random.default_rng(100 + i)
        g, ref = modelgen.mlp(rng, sizes=(64, 48, 32, 10), batch=3)
        out.append((g.save(tmp_path / f"m{i}.qmodel"), ref))
    return out


def _hammer(work, n_threads):
    """Run work(t) in n_threads threads started together; re-raise the first error."""
    errors, barrier = [], threading.Barrier(n_threads)

    def body(t):
        try:
            barrier.wait()
            work(t)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("num_threads", [1, 2])
def test_eight_threads_one_model(tmp_path, num_threads):
    (path, ref), = _models(tmp_path, 1)
    m = qengine.load(path, num_threads=num_threads)
    rng = np.random.default_rng(5)
    xs = [rng.integers(-128, 128, size=(3, 64), dtype=np.int8) for _ in range(16)]
    fs = [rng.normal(0, 3, size=(3, 64)).astype(np.float32) for _ in range(16)]
    want = [m.run(x, raw=True) for x in xs]            # single-threaded results
    want_f = [m.run(f) for f in fs]
    assert all(np.array_equal(w, ref(x)) for w, x in zip(want, xs))

    def work(t):
        for i in range(1000):
            j = (7 * t + i) % 16
            if i % 2:
                assert np.array_equal(m.run(xs[j], raw=True), want[j]), (t, i)
            else:
                assert np.array_equal(m.run(fs[j]), want_f[j]), (t, i)

    _hammer(work, 8)


def test_eight_threads_eight_models(tmp_path):
    models = [(qengine.load(p, num_threads=2), ref) for p, ref in _models(tmp_path, 8)]
    rng = np.random.default_rng(6)
    xs = [rng.integers(-128, 128, size=(3, 64), dtype=np.int8) for _ in range(8)]
    want = [[ref(x) for x in xs] for _, ref in models]

    def work(t):
        m = models[t][0]
        for i in range(1000):
            assert np.array_equal(m.run(xs[i % 8], raw=True), want[t][i % 8]), (t, i)

    _hammer(work, 8)


def test_eight_threads_one_cnn(tmp_path):
    import netgen
    net = netgen.small_cnn(4, batch=2)
    m = qengine.load(net.save(tmp_path / "cnn.qmodel"), num_threads=2)
    feeds = [net.random_inputs() for _ in range(8)]
    want = [net.reference(f) for f in feeds]

    def work(t):
        for i in range(1000):
            got = m.run(feeds[(t + i) % 8], raw=True)
            for k, v in want[(t + i) % 8].items():
                assert np.array_equal(got[k], v), (t, i, k)

    _hammer(work, 8)
    x = net.random_inputs()
    ref = net.reference(x)
    for t in range(1, 9):
        got = qengine.load(tmp_path / "cnn.qmodel", num_threads=t).run(x, raw=True)
        assert all(np.array_equal(got[k], v) for k, v in ref.items()), t


def test_num_threads_one_to_eight_identical(tmp_path):
    rng = np.random.default_rng(7)
    g, ref = modelgen.mlp(rng, sizes=(256, 192, 160, 10), batch=37)
    path = g.save(tmp_path / "wide.qmodel")
    x = rng.integers(-128, 128, size=(37, 256), dtype=np.int8)
    f = rng.normal(0, 3, size=(37, 256)).astype(np.float32)
    want = ref(x)
    want_f = qengine.load(path, num_threads=1).run(f)
    for t in range(1, 9):
        m = qengine.load(path, num_threads=t)
        assert_same(m.run(x, raw=True), want, num_threads=t)
        assert np.array_equal(m.run(f), want_f), t


# ---- soak -------------------------------------------------------------------------------

def _rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _fds():
    return len(os.listdir("/proc/self/fd"))


def _maps(name):
    with open("/proc/self/maps") as f:
        return sum(name in line for line in f)


@pytest.mark.skipif(UNDER_ASAN, reason="ASan quarantines freed memory: RSS grows")
def test_soak_runs_keep_rss_and_fds_stable(tmp_path, capsys):
    (path, _), = _models(tmp_path, 1)
    m = qengine.load(path, num_threads=1)
    x = np.random.default_rng(8).normal(size=(3, 64)).astype(np.float32)
    for _ in range(1000):
        m.run(x)
    gc.collect()
    rss0, fd0 = _rss_kib(), _fds()
    for _ in range(SOAK_RUNS):
        m.run(x)
    gc.collect()
    rss1, fd1 = _rss_kib(), _fds()
    with capsys.disabled():
        print(f"\nsoak {SOAK_RUNS} runs: RSS {rss0} -> {rss1} KiB, fds {fd0} -> {fd1}")
    assert rss1 - rss0 < 2048 and fd1 == fd0


@pytest.mark.skipif(UNDER_ASAN, reason="ASan quarantines freed memory: RSS grows")
def test_soak_load_unload_releases_everything(tmp_path, capsys):
    (path, _), = _models(tmp_path, 1)
    name = os.path.basename(str(path))
    x = np.zeros((3, 64), np.float32)
    for _ in range(20):
        qengine.load(path).run(x)
    gc.collect()
    rss0, fd0, maps0 = _rss_kib(), _fds(), _maps(name)
    for _ in range(SOAK_LOADS):
        m = qengine.load(path)
        m.run(x)
        del m
    gc.collect()
    rss1, fd1, maps1 = _rss_kib(), _fds(), _maps(name)
    with capsys.disabled():
        print(f"\nsoak {SOAK_LOADS} loads: RSS {rss0} -> {rss1} KiB, fds {fd0} -> {fd1}, "
              f"mappings {maps0} -> {maps1}")
    assert maps0 == maps1 == 0 and fd1 == fd0 and rss1 - rss0 < 2048


# ---- numerics at the extremes -----------------------------------------------------------

@pytest.fixture
def mlp(tmp_path):
    rng = np.random.default_rng(9)
    g, ref = modelgen.mlp(rng, sizes=(64, 48, 32, 10), batch=3)
    return qengine.load(g.save(tmp_path / "mlp.qmodel")), ref


@pytest.mark.parametrize("fill", [-128, 127, 0, "alternating", "checker"])
def test_int8_extremes(isa, mlp, fill):
    m, ref = mlp
    if fill == "alternating":
        x = np.resize(np.array([-128, 127], np.int8), (3, 64))
    elif fill == "checker":
        x = np.where(np.indices((3, 64)).sum(0) % 3, 127, -128).astype(np.int8)
    else:
        x = np.full((3, 64), fill, np.int8)
    assert_same(m.run(x, raw=True), ref(x), fill=fill)


def _quantize_doc(x, info):
    """The documented float boundary (docs/RELIABILITY.md): q = clamp(floor(x / s + 0.5)
    + z); NaN -> the zero point (real 0); +inf -> 127, -inf -> -128."""
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.floor(x.astype(np.float32) * np.float32(1.0 / info.scale) + np.float32(0.5))
    q = np.where(np.isnan(q), 0, np.clip(q, -1e6, 1e6))
    return np.clip(q + info.zero_point, -128, 127).astype(np.int8)


def test_nan_and_inf_inputs(mlp):
    m, ref = mlp
    info, out = m.inputs[0], m.outputs[0]
    rng = np.random.default_rng(10)
    x = rng.normal(0, 2, size=(3, 64)).astype(np.float32)
    x[0, :8] = np.nan
    x[1, :8] = np.inf
    x[2, :8] = -np.inf
    x[0, 8:12] = [3e38, -3e38, 1e-45, -0.0]
    q = _quantize_doc(x, info)
    assert (q[0, :8] == info.zero_point).all() and (q[1, :8] == 127).all()
    assert (q[2, :8] == -128).all()
    want = (ref(q).astype(np.float32) - out.zero_point) * np.float32(out.scale)
    got = m.run(x)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)
    # all NaN is the same as all real zeros
    np.testing.assert_array_equal(m.run(np.full((3, 64), np.nan, np.float32)),
                                  m.run(np.zeros((3, 64), np.float32)))


def test_saturating_layer_and_wrapping_bias(isa, tmp_path):
    """Outputs pinned at qmin/qmax by a huge multiplier, and int32 biases at the extremes:
    the accumulator wraps exactly as eq. 3 says (the converter never emits this; the
    kernels must still agree with the reference)."""
    rng = np.random.default_rng(11)
    k, n = 40, 12
    g = GraphBuilder()
    g.input("x", (4, k), 0.1, 0)
    g.value("y", (4, n), 0.1, 5)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = np.array([2**31 - 1, -2**31, 2**31 - 1000, -2**31 + 1000] * 3, np.int32)
    m0 = np.full(n, 2**31 - 1, np.int32)
    sh = np.array([1, 2, 31, 62] * 3, np.int32)
    g.node("FullyConnected", "fc", ["x"], ["y"],
           dict(weight=w, bias=bias, m0=m0, sh=sh), qmin=-100, qmax=100)
    g.output("y")
    m = qengine.load(g.save(tmp_path / "sat.qmodel"))
    for x in (np.full((4, k), 127, np.int8), np.full((4, k), -128, np.int8),
              rng.integers(-128, 128, size=(4, k), dtype=np.int8)):
        want = R.qgemm(x, w, bias, m0, sh, 5, -100, 100)[0]
        assert_same(m.run(x, raw=True), want)


# ---- limits -----------------------------------------------------------------------------

def test_huge_consistent_shapes_are_refused_not_allocated(tmp_path):
    """A few header bytes can declare a batch of 2^30: loading must refuse, not allocate."""
    rng = np.random.default_rng(12)
    g, _ = modelgen.mlp(rng, sizes=(16, 8, 4), batch=1)
    for v in g.values.values():
        v["shape"][0] = 2**26   # 1 GiB for x alone: each value fine, the arena not
    path = g.save(tmp_path / "huge.qmodel")
    rss0 = _rss_kib()
    with pytest.raises(ModelFormatError, match="QENGINE_MAX_ARENA_MB"):
        qengine.load(path)
    assert _rss_kib() - rss0 < 64 << 10
    for v in g.values.values():
        v["shape"] = [2**31 - 1, 2]
    with pytest.raises(ModelFormatError, match="one activation may have"):
        qengine.load(g.save(tmp_path / "huge2.qmodel"))


def test_arena_limit_is_configurable(tmp_path, monkeypatch):
    rng = np.random.default_rng(13)
    g, _ = modelgen.mlp(rng, sizes=(1024, 1024, 4), batch=1024)   # ~2 MiB of activations
    path = g.save(tmp_path / "big.qmodel")
    monkeypatch.setenv("QENGINE_MAX_ARENA_MB", "1")
    with pytest.raises(ModelFormatError, match="more than the limit of 1 MiB"):
        qengine.load(path)
    monkeypatch.setenv("QENGINE_MAX_ARENA_MB", "16")
    qengine.load(path)


def test_converter_refuses_k_that_could_overflow_int32():
    from qengine.convert.quantize import MAX_K, check_accumulator, quantize_bias
    assert MAX_K * 128 * 127 < 2**30 <= (MAX_K + 1) * 128 * 127
    check_accumulator(MAX_K)
    with pytest.raises(ValueError, match="int32 accumulator.*split the layer"):
        check_accumulator(MAX_K + 1, "dense fc")
    wq = np.ones((2, MAX_K + 1), np.int8)
    with pytest.raises(ValueError, match="fc9: K=66053"):
        quantize_bias(None, 0.1, np.array([0.1, 0.1]), 3, wq, "fc9")
    # at the bound the clipped bias keeps K * 128 * 127 + |bias| < 2^31
    wq = np.full((2, MAX_K), 127, np.int8)
    b = quantize_bias(np.array([1e12, -1e12]), 1.0, np.array([1e-3, 1e-3]), -128, wq)
    assert (np.abs(b.astype(np.int64)) + MAX_K * 128 * 127 < 2**31).all()


def test_converter_refuses_huge_k_onnx_gemm(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from qengine.convert import calibrate, import_onnx, quantize_graph

    k = 70_000
    rng = np.random.default_rng(14)
    w = numpy_helper.from_array(rng.normal(size=(k, 2)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], name="wide_gemm")], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    path = tmp_path / "wide.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    g = import_onnx(path)
    ranges = calibrate(g, rng.normal(size=(4, k)).astype(np.float32), method="minmax")
    with pytest.raises(ValueError, match="dense .*K=70000.*int32 accumulator.*split the layer"):
        quantize_graph(g, ranges)
