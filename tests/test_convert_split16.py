"""int16_weight_bits=16 (issue 8; convert/split16.py): int16 layers get ~16-bit weights as
two int8 halves (hi + lo / 256) run as two 16x8 layers and an int16 Add. The split
reconstructs the weights to ~16 bits; the written models use only existing ops and run
in the runtime bit-exactly as the kernel executor predicts, for every thread count; the
digits MLP gains >= 20 dB of output SQNR over int8 affine; report and `qengine info`
show the choice."""
import numpy as np
import pytest

pytest.importorskip("onnx")

from qengine import format as F  # noqa: E402
from qengine.convert import FloatExecutor, convert, import_onnx  # noqa: E402
from qengine.convert.quantize import quantize_weights  # noqa: E402
from qengine.convert.report import sqnr  # noqa: E402
from qengine.convert.split16 import split_weights, weight_scale  # noqa: E402
from qengine import quant as Q  # noqa: E402

from test_convert_api import CASES, nhwc, rand, run_file, save  # noqa: E402
from test_convert_fixed import _mlp, _runtime_bit_exact, check_fixed_file  # noqa: E402

EXISTING_OPS = {"Conv2D", "FullyConnected", "Add", "Mul", "Lut", "Softmax", "Concat",
                "MaxPool2D", "AvgPool2D", "GlobalAvgPool", "Reshape", "Requantize"}


@pytest.mark.parametrize("scheme", ["int8", "fixed"])
def test_split_reconstructs_16_bits(scheme):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3, 3, 5)) * rng.uniform(1e-3, 10, (7, 1, 1, 1))
    w[2] = 0.0                                      # an all-zero channel
    w[3, 0, 0, 0] = 50.0                            # an outlier
    s = weight_scale(w, scheme)
    hi, lo = split_weights(w, s)
    assert hi.dtype == lo.dtype == np.int8
    assert np.abs(hi.astype(int)).max() <= 127 and np.abs(lo.astype(int)).max() <= 127
    sb = s.reshape(-1, 1, 1, 1)
    err = np.abs(w - sb * (hi + lo / 256.0))
    assert np.all(err <= sb / 256 * (1 + 1e-9)), err.max()
    # the typical error is the S / 512 rounding of a 16-bit grid: ~ S / (512 sqrt 3)
    rel = err[s > 0] / sb[s > 0]
    assert np.sqrt(np.mean(rel ** 2)) < 1.2 / (512 * np.sqrt(3))
    # relative to the channel's max |w|: 2^-14 (fixed: S up to 2x coarser; int8 alone:
    # 2^-8)
    amax = np.abs(w).reshape(7, -1).max(1)
    nz = amax > 0
    bound = 2.0**-14 if scheme == "int8" else 2.0**-13
    assert np.all(err.reshape(7, -1).max(1)[nz] / amax[nz] <= bound)
    assert np.all(hi[2] == 0) and np.all(lo[2] == 0)
    if scheme == "int8":   # the hi half is the usual int8 weight
        np.testing.assert_array_equal(hi, quantize_weights(w)[0])
    else:
        assert np.all(Q.is_power_of_two(s))


def _digits_mlp():
    from qengine.data import path as data_path
    z = np.load(data_path("digits.npz"))
    xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(-1, 64)
    xt = (z["x_test"] / 16.0).astype(np.float32).reshape(-1, 64)
    return data_path("digits_mlp.onnx"), xc, xt


@pytest.mark.parametrize("scheme", ["int8", "fixed"])
def test_digits_mlp_gains_20_db_bit_exact(tmp_path, scheme):
    src, xc, xt = _digits_mlp()
    g = import_onnx(src)
    ref = FloatExecutor(g)(g.to_stored(g.inputs[0], xt))
    out8, out16, outw = (str(tmp_path / f"{k}.qmodel") for k in ("a", "b", "c"))
    convert(src, out8, xc, scheme="int8")
    convert(src, out16, xc, scheme=scheme, int16_layers="all")
    rep = convert(src, outw, xc, scheme=scheme, int16_layers="all", int16_weight_bits=16)
    db = {}
    for k, path in (("int8", out8), ("16x8", out16), ("w16", outw)):
        _, y = run_file(path, xt)
        db[k] = sqnr(np.sum(ref.astype(np.float64) ** 2),
                     np.sum((ref - y.reshape(ref.shape)) ** 2))
    assert db["w16"] >= db["int8"] + 20, db
    assert db["w16"] >= db["16x8"] + 15, db
    _, y = run_file(outw, xt[:6])
    _runtime_bit_exact(outw, xt[:6], y)
    f = F.read(outw) if scheme == "int8" else check_fixed_file(outw)
    h = f.header
    assert {n["op"] for n in h["nodes"]} <= EXISTING_OPS
    assert h["settings"]["int16_weight_bits"] == 16
    dense = [n["name"] for n in h["nodes"] if n["op"] == "FullyConnected"]
    assert len(dense) == 6 and all(n.endswith((":hi", ":lo")) for n in dense)
    assert sorted(h["settings"]["split16_layers"]) == sorted(
        {n[:-3] for n in dense})
    for n in h["nodes"]:   # the halves' weights are int8 in [-127, 127], outputs int16
        if n["op"] == "FullyConnected":
            w = f.constants[n["constants"]["weight"]]
            assert w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 127
            assert h["values"][n["outputs"][0]]["dtype"] == "int16"
    assert any("16-bit weights" in s for s in rep.notes), rep.notes
    assert rep.mixed["split16"]["layers"] == h["settings"]["split16_layers"]
    assert rep.mixed["cost"]["est_time_vs_int8"] > 3.5   # 2x the MACs, each at ~2x


@pytest.mark.parametrize("scheme", ["int8", "fixed"])
@pytest.mark.parametrize("case", ["conv", "depthwise", "gemm", "gap_flatten_gemm",
                                  "add_mul", "concat", "softmax"])
def test_each_op_bit_exact(tmp_path, case, scheme):
    nodes, inits, shape = CASES[case]()
    src = save(tmp_path, nodes, shape, inits)
    xc = rand(64, *shape[1:])
    g = import_onnx(src)
    ref = FloatExecutor(g)(g.to_stored(g.inputs[0], xc[:16]))
    out16, outw = str(tmp_path / "b.qmodel"), str(tmp_path / "c.qmodel")
    convert(src, out16, xc, scheme=scheme, int16_layers="all")
    convert(src, outw, xc, scheme=scheme, int16_layers="all", int16_weight_bits=16)
    _, y16 = run_file(out16, xc[:16])
    _, y = run_file(outw, xc[:16])
    sig = np.sum(ref.astype(np.float64) ** 2)
    db16 = sqnr(sig, np.sum((ref - y16.reshape(ref.shape)) ** 2))
    db = sqnr(sig, np.sum((ref - y.reshape(ref.shape)) ** 2))
    assert db >= db16 - 1, (case, db, db16)
    _runtime_bit_exact(outw, xc[:4], y[:4])
    if scheme == "fixed":
        check_fixed_file(outw)


def test_list_splits_only_listed_layers_and_info(tmp_path, capsys):
    from qengine.cli import main as cli_main
    src = _mlp(tmp_path)
    # _mlp's weights are exactly int8: nothing to split; perturb one layer's weights
    import onnx
    m = onnx.load(src)
    for init in m.graph.initializer:
        if init.name == "w1":
            a = onnx.numpy_helper.to_array(init).copy()
            a += np.random.default_rng(1).normal(0, 1e-4, a.shape).astype(np.float32)
            init.CopyFrom(onnx.numpy_helper.from_array(a, "w1"))
    onnx.save(m, src)
    xc = rand(32, 24)
    nodes = [n.name for n in import_onnx(src).nodes if n.op == "dense"]
    out = str(tmp_path / "m.qmodel")
    rep = convert(src, out, xc, int16_layers=nodes[:2], int16_weight_bits=16)
    h = F.read(out).header
    names = {n["name"] for n in h["nodes"]}
    assert f"{nodes[1]}:hi" in names and f"{nodes[1]}:lo" in names
    assert f"{nodes[0]}:hi" not in names          # int16, but its weights are exact int8
    assert f"{nodes[2]}:hi" not in names          # not listed: int8
    assert h["settings"]["int16_layers"] == nodes[:2]
    assert h["settings"]["split16_layers"] == [nodes[1]]
    assert rep.mixed["split16"] == {"layers": [nodes[1]], "candidates": 2}
    assert cli_main(["info", out]) == 0
    text = capsys.readouterr().out
    assert "int16_weight_bits=16" in text and nodes[1] in text


def test_bad_int16_weight_bits(tmp_path):
    src = _mlp(tmp_path)
    out = str(tmp_path / "m.qmodel")
    with pytest.raises(ValueError, match="int16_weight_bits"):
        convert(src, out, rand(8, 24), int16_layers="all", int16_weight_bits=12)
    for layers in (None, "auto", 3):
        with pytest.raises(ValueError, match="int16_weight_bits=16 needs"):
            convert(src, out, rand(8, 24), int16_layers=layers, int16_weight_bits=16)


def test_cli_convert_int16_weight_bits(tmp_path, capsys):
    from qengine.cli import main as cli_main
    src, xc, _ = _digits_mlp()
    calib = str(tmp_path / "calib.npy")
    np.save(calib, xc[:32])
    out = str(tmp_path / "m.qmodel")
    assert cli_main(["convert", src, "-o", out, "--calib", calib, "--int16-layers", "all",
                     "--int16-weight-bits", "16"]) == 0
    assert "16-bit weights (int16_weight_bits=16): 3 of 3" in capsys.readouterr().out
    assert F.read(out).header["settings"]["int16_weight_bits"] == 16
    assert cli_main(["convert", src, "-o", out, "--calib", calib,
                     "--int16-weight-bits", "16"]) == 1
    assert "needs int16_layers" in capsys.readouterr().err
