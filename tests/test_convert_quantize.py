"""Calibration methods, weight/bias quantization and (m0, sh): properties on synthetic
data. These need no onnx: the float IR is built directly."""
import numpy as np
import pytest

from qengine import kernels as K
from qengine.convert.calibrate import calibrate, entropy_threshold, iter_batches
from qengine.convert.ir import Graph, Node
from qengine.convert.quantize import (choose_qparams, quantize_bias, quantize_graph,
                                      quantize_multiplier, quantize_weights)
from qengine.convert.simulate import dequantize, simulate, sqnr_db

from reference import qgemm as ref_qgemm


def relu_graph(n=1000):
    return Graph([Node("relu", "r", ["x"], ["y"])], ["x"], ["y"], {"x": (1, n), "y": (1, n)})


def outlier_data(rng, n=5000, batches=8):
    """Gaussian bulk plus rare huge outliers (1 in 20000 values: beyond the 99.99th
    percentile)."""
    out = []
    for _ in range(batches):
        x = rng.standard_normal((4, n)).astype(np.float32)
        x.ravel()[rng.integers(0, x.size)] = 60.0
        out.append(x)
    return out


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_methods_clip_outliers_minmax_does_not(rng, method):
    g, data = relu_graph(5000), outlier_data(rng)
    lo, hi = calibrate(g, data, method="minmax")["x"]
    assert hi == pytest.approx(60.0) and lo < -3
    clo, chi = calibrate(g, data, method=method)["x"]
    assert 2.0 < chi < 20.0, (method, chi)
    assert lo <= clo < 0 and clo > -20
    rlo, rhi = calibrate(g, data, method=method)["y"]   # post-ReLU: starts at 0
    assert rlo == 0.0 and 2.0 < rhi < 20.0


def test_mse_trims_gaussian_tails_keeps_uniform(rng):
    """MSE-optimal 8-bit clipping of a Gaussian sits inside its extremes (about 4 sigma
    of ~4.5); a uniform distribution has nothing worth clipping."""
    g = relu_graph(5000)
    gauss = [rng.standard_normal((4, 5000)).astype(np.float32) for _ in range(4)]
    lo, hi = calibrate(g, gauss, method="minmax")["x"]
    mlo, mhi = calibrate(g, gauss, method="mse")["x"]
    assert 0.7 * hi < mhi < 0.95 * hi and 0.7 * lo > mlo > 0.95 * lo
    flat = [rng.uniform(-1, 1, (4, 5000)).astype(np.float32) for _ in range(4)]
    mlo, mhi = calibrate(g, flat, method="mse")["x"]
    assert mhi > 0.95 and mlo < -0.95


def test_ranges_contain_zero(rng):
    g = relu_graph(50)
    data = rng.uniform(2.0, 3.0, (16, 50)).astype(np.float32)
    for m in ("minmax", "percentile", "entropy", "mse"):
        lo, hi = calibrate(g, data, method=m)["x"]
        assert lo == 0.0 and 2.0 < hi <= 3.0


def test_entropy_keeps_a_clean_uniform_range():
    hist = np.zeros(4096)
    hist[2048:] = 100.0  # uniform on [0, A]: nothing to clip
    assert entropy_threshold(hist, 1.0, levels=256) > 0.9


def test_data_forms_agree(rng, tmp_path):
    g = relu_graph(20)
    x = rng.standard_normal((37, 20)).astype(np.float32)
    np.save(tmp_path / "c.npy", x)
    np.savez(tmp_path / "c.npz", x=x)
    want = calibrate(g, x, method="minmax", batch_size=8)
    for data in (list(x), iter([x[:10], x[10:]]), str(tmp_path / "c.npy"), tmp_path / "c.npz",
                 {"x": x}):
        assert calibrate(g, data, method="minmax", batch_size=8) == want
    sizes = [len(b["x"]) for b in iter_batches(g, list(x), batch_size=8)]
    assert sizes == [8, 8, 8, 8, 5]


def test_bad_calibration_inputs(rng):
    g = relu_graph(20)
    with pytest.raises(ValueError, match="calibrate="):
        calibrate(g, np.zeros((2, 20)), method="kl")
    with pytest.raises(ValueError, match="shape"):
        calibrate(g, np.zeros((2, 21)))
    with pytest.raises(ValueError, match="empty"):
        calibrate(g, [])
    with pytest.raises(ValueError, match="does not exist"):
        calibrate(g, "/nonexistent/calib.npy")


def test_quantize_multiplier_properties(rng):
    m = np.exp(rng.uniform(np.log(1e-9), np.log(100.0), 2000))
    m0, sh = quantize_multiplier(m)
    assert m0.dtype == np.int32 and sh.dtype == np.int32
    assert np.all(m0 >= 2**30) and np.all(m0.astype(np.int64) < 2**31)
    assert np.all((sh >= 1) & (sh <= 62))
    approx = m0.astype(np.float64) * 2.0 ** (-sh.astype(np.float64))
    assert np.all(np.abs(approx - m) / m <= 2.0**-30)
    # exact powers of two and the carry case round(f * 2^31) == 2^31
    m0, sh = quantize_multiplier([0.5, 1.0, 1 - 2.0**-40])
    assert list(m0) == [2**30, 2**30, 2**30] and list(sh) == [31, 30, 30]
    assert quantize_multiplier(0.0) == (0, 1)


@pytest.mark.parametrize("m", [2.0**-63, 1e-30, 2.0**31, 1e12])
def test_quantize_multiplier_refuses_degenerate(m):
    with pytest.raises(ValueError, match=r"outside \[1, 62\]"):
        quantize_multiplier(m, "conv7")


def test_choose_qparams_zero_exact(rng):
    for lo, hi in [(0.0, 6.0), (-1.0, 3.0), (-5.0, 0.0), (-2.0, 2.0), (0.0, 0.0), (1.0, 2.0)]:
        s, z = choose_qparams(lo, hi)
        assert -128 <= z <= 127 and s > 0
        # the grid covers the range up to the rounding of the zero point (half a step)
        assert s * (-128 - z) <= min(lo, 0) + s / 2 + 1e-12
        assert s * (127 - z) >= max(hi, 0) - s / 2 - 1e-12
    assert choose_qparams(0.0, 6.0)[1] == -128


def test_weights_per_channel_symmetric(rng):
    w = rng.standard_normal((8, 3, 3, 5)) * rng.uniform(0.01, 10, (8, 1, 1, 1))
    w[3] = 0.0
    q, s = quantize_weights(w)
    assert q.dtype == np.int8 and q.min() >= -127 and q.max() <= 127
    assert s[3] == 0 and np.all(q[3] == 0)
    live = [i for i in range(8) if i != 3]
    assert np.all(np.abs(q[live]).reshape(7, -1).max(axis=1) == 127)
    err = np.abs(q[live] * s[live, None, None, None] - w[live])
    assert np.all(err <= s[live, None, None, None] / 2 + 1e-12)


def test_bias_fold_exact(rng):
    """eq. 3: sum_k (a - za) w + round(b / (sa sw)) == bias' + sum_k a w, exactly."""
    wq = rng.integers(-127, 128, (6, 40)).astype(np.int8)
    s_w = rng.uniform(1e-3, 1e-2, 6)
    b = rng.standard_normal(6)
    za, sa = 17, 0.05
    bias = quantize_bias(b, sa, s_w, za, wq)
    a = rng.integers(-128, 128, (5, 40))
    want = (a - za) @ wq.T.astype(np.int64) + np.round(b / (sa * s_w)).astype(np.int64)
    got = a @ wq.T.astype(np.int64) + bias.astype(np.int64)
    assert np.array_equal(got, want)


def dense_graph(rng, k=24, n=10, act=None):
    node = Node("dense", "fc", ["x"], ["y"], {"act": act},
                {"weight": rng.standard_normal((n, k)).astype(np.float32) * 0.3,
                 "bias": rng.standard_normal(n).astype(np.float32)})
    return Graph([node], ["x"], ["y"], {"x": (1, k), "y": (1, n)})


@pytest.mark.parametrize("act", [None, (0.0, np.inf), (0.0, 1.0)])
def test_simulated_dense_matches_kernel_and_reference(rng, act):
    """The quantized parameters drive K.qgemm to the simulation's exact output."""
    g = dense_graph(rng, act=act)
    x = rng.standard_normal((64, 24)).astype(np.float32) + 0.5
    qg = quantize_graph(g, calibrate(g, x, method="minmax"))
    q = qg.nodes[0]
    sim = simulate(qg, x)
    xq = sim["x"]
    got = K.qgemm(xq, q.weight, q.bias, q.m0, q.sh, qg.tensors["y"].zero_point, q.qmin, q.qmax)
    want, _ = ref_qgemm(xq, q.weight, q.bias, q.m0, q.sh, qg.tensors["y"].zero_point, q.qmin, q.qmax)
    assert np.array_equal(sim["y"], got) and np.array_equal(got, want)
    if act is not None:
        assert q.qmin == qg.tensors["y"].zero_point
    f = np.clip(x @ g.nodes[0].params["weight"].T + g.nodes[0].params["bias"],
                *(act or (-np.inf, np.inf)))
    assert sqnr_db(f, dequantize(sim["y"], qg.tensors["y"])) > 30


def test_dead_channel_and_same_scale_groups(rng):
    """A channel of (near-)zero weights stays valid; max_pool / concat / reshape share
    one scale."""
    w = rng.standard_normal((4, 1, 1, 3)).astype(np.float32)
    w[1] = 1e-12
    w[2] = 0.0
    conv = Node("conv2d", "c", ["x"], ["c"], {"strides": (1, 1), "pads": (0, 0, 0, 0),
                                             "dilations": (1, 1), "groups": 1, "act": None},
                {"weight": w, "bias": np.array([0.1, 0.5, -0.2, 0.0], np.float32)})
    pool = Node("max_pool", "p", ["c"], ["p"], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)})
    cat = Node("concat", "k", ["p", "p"], ["k"], {"axis": 3})
    rs = Node("reshape", "r", ["k"], ["y"], {"shape": (1, 32)})
    g = Graph([conv, pool, cat, rs], ["x"], ["y"],
              {"x": (1, 4, 4, 3), "c": (1, 4, 4, 4), "p": (1, 2, 2, 4), "k": (1, 2, 2, 8), "y": (1, 32)})
    x = rng.standard_normal((16, 4, 4, 3)).astype(np.float32)
    qg = quantize_graph(g, calibrate(g, x, method="minmax", layout="stored"))
    params = {(qg.tensors[t].scale, qg.tensors[t].zero_point) for t in ("c", "p", "k", "y")}
    assert len(params) == 1
    q = qg.nodes[0]
    assert np.all(q.m0 >= 2**30) and np.all((q.sh >= 1) & (q.sh <= 62))
    sim = simulate(qg, x)
    c = dequantize(sim["c"], qg.tensors["c"])
    assert np.allclose(c[..., 1], 0.5, atol=qg.tensors["c"].scale)
    assert np.allclose(c[..., 2], -0.2, atol=qg.tensors["c"].scale)
