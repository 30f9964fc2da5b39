"""convert(scheme="fixed") and int16 activations (issue 8): every op of the small ONNX
graphs of test_convert_api converts, loads and runs in the runtime bit-exact with the
kernel executor; every stored scale is an exact power of two, every requantization a
pure shift (m0 = 2^30); the mixed-precision selection picks what it reports and meets
its target; the digits models stay within 0.5 point of float."""
import math

import numpy as np
import pytest

pytest.importorskip("onnx")

import qengine  # noqa: E402
from qengine import format as F  # noqa: E402
from qengine import quant as Q  # noqa: E402
from qengine.convert import FloatExecutor, convert, import_onnx  # noqa: E402
from qengine.convert.fixed import best_frac_bits, pow2_weights, qformat  # noqa: E402
from qengine.convert.report import sqnr  # noqa: E402

from test_convert_api import CASES, nhwc, rand, run_file, save  # noqa: E402

M0_ONE = 2**30


def check_fixed_file(path):
    """Every value scale 2^-f with zero point 0 (softmax's int8 grid excepted), every
    stored and derived rescale a pure shift."""
    f = F.read(path)
    h, c = f.header, f.constants
    vals = h["values"]
    softmax_out = {n["outputs"][0] for n in h["nodes"] if n["op"] == "Softmax"}
    for name, v in vals.items():
        assert Q.is_power_of_two(v["scale"]), (name, v["scale"])
        if name not in softmax_out:
            assert v["zero_point"] == 0, (name, v)
    for n in h["nodes"]:
        vi = [vals[i] for i in n["inputs"]]
        vo = vals[n["outputs"][0]]
        if "m0" in n["constants"]:
            assert np.all(c[n["constants"]["m0"]] == M0_ONE), n["name"]
            # the weight scale s_w = 2^-sh+30 * s_out / s_in is a power of two, too
            sh = c[n["constants"]["sh"]].astype(np.float64)
            assert np.all(Q.is_power_of_two(2.0 ** (30 - sh) * vo["scale"] / vi[0]["scale"]))
        if n["op"] == "Add":
            ka, kb, _, m0, _ = Q.add_params(vi[0]["scale"], 0, vi[1]["scale"], 0,
                                            vo["scale"], 0) if vo["dtype"] == "int8" else \
                __import__("qengine._kernels_qs16", fromlist=["x"]).add16_params(
                    vi[0]["scale"], 0, vi[1]["scale"], 0, vo["scale"])
            assert m0 == M0_ONE and Q.is_power_of_two(ka) and Q.is_power_of_two(kb)
        if n["op"] in ("Requantize", "Concat"):
            for v in vi:
                assert Q.requant_params(v["scale"], vo["scale"])[0] == M0_ONE
        if n["op"] in ("AvgPool2D", "GlobalAvgPool"):
            assert Q.is_power_of_two(vi[0]["scale"] / vo["scale"])
    return f


def _convert(tmp_path, case, **kw):
    nodes, inits, shape = CASES[case]()
    src = save(tmp_path, nodes, shape, inits)
    xc = rand(64, *shape[1:])
    out = str(tmp_path / "m.qmodel")
    report = convert(src, out, xc, **kw)
    g = import_onnx(src)
    ref = FloatExecutor(g)(g.to_stored(g.inputs[0], xc[:16]))
    return out, report, xc, ref


def _runtime_bit_exact(path, x, want):
    for threads in (1, 2, 3):
        m = qengine.load(path, num_threads=threads)
        got = np.concatenate([np.asarray(m.run(nhwc(x[i:i + 1]))).reshape(1, -1)
                              for i in range(len(x))])
        np.testing.assert_array_equal(got, want.reshape(len(x), -1))


@pytest.mark.parametrize("case", sorted(CASES))
def test_fixed_each_op(tmp_path, case):
    out, report, xc, ref = _convert(tmp_path, case, scheme="fixed")
    f = check_fixed_file(out)
    assert f.header["scheme"] == "fixed"
    assert all(v["dtype"] != "int16" for v in f.header["values"].values())
    _, y = run_file(out, xc[:16])
    db = sqnr(np.sum(ref.astype(np.float64) ** 2), np.sum((ref - y.reshape(ref.shape)) ** 2))
    assert db > 15, (case, db)
    _runtime_bit_exact(out, xc[:4], y[:4])
    assert all(r.qformat.startswith("Q") for r in report.layers), str(report)


@pytest.mark.parametrize("scheme", ["fixed", "int8"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_all_int16_each_op(tmp_path, case, scheme):
    out, report, xc, ref = _convert(tmp_path, case, scheme=scheme, int16_layers="all")
    src = str(tmp_path / "m.onnx")   # the same graph, all int8
    out8 = str(tmp_path / "m8.qmodel")
    convert(src, out8, xc, scheme=scheme)
    _, y8 = run_file(out8, xc[:16])
    f = check_fixed_file(out) if scheme == "fixed" else F.read(out)
    assert f.header["scheme"] == "mixed"
    assert f.header["settings"]["scheme"] == scheme
    for v in f.header["values"].values():
        if v["dtype"] == "int16":
            assert v["zero_point"] == 0
    _, y = run_file(out, xc[:16])
    db = sqnr(np.sum(ref.astype(np.float64) ** 2), np.sum((ref - y.reshape(ref.shape)) ** 2))
    db8 = sqnr(np.sum(ref.astype(np.float64) ** 2), np.sum((ref - y8.reshape(ref.shape)) ** 2))
    assert db > 15 and db > db8 - 3, (case, db, db8)
    _runtime_bit_exact(out, xc[:4], y[:4])
    int16_ops = {n["op"] for n in f.header["nodes"]
                 if f.header["values"][n["outputs"][0]]["dtype"] == "int16"}
    int8_only = {"Lut", "Softmax", "Concat", "Mul"}
    assert not int16_ops & int8_only


def test_frac_bits_minimise_clipping_plus_rounding():
    rng = np.random.default_rng(0)
    a = 8.0
    x = np.concatenate([rng.normal(0, 0.5, 100000), [7.9]])   # one far outlier
    h = np.bincount(np.clip(((x + a) * (4096 / (2 * a))).astype(int), 0, 4095),
                    minlength=4096)
    f = best_frac_bits(h, a, 8)
    assert f > math.floor(math.log2(127 / 7.9))     # clips the outlier, unlike max
    assert best_frac_bits(h, a, 16) >= f + 8 - 1
    q, s = pow2_weights(rng.normal(0, [[0.01], [1.0]], (2, 50)))
    assert np.all(Q.is_power_of_two(s)) and s[0] < s[1] and np.abs(q).max() <= 127
    assert qformat(2.0**-6, "int8") == "Q1.6" and qformat(2.0**-12, "int16") == "Q3.12"
    assert qformat(0.3, "int8") == ""


def _mlp(tmp_path, n=(24, 32, 32, 10)):
    """A small MLP with weights exactly representable in per-channel int8, affine or
    power-of-two (integers / 2048, each row reaching 127), so activations are the only
    source of error."""
    from onnx import helper
    rng = np.random.default_rng(3)
    nodes, inits, prev = [], {}, "x"
    for i in range(len(n) - 1):
        out = "y" if i == len(n) - 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}" if out != "y"
                                                                          else "y"], transB=1))
        w = rng.integers(-127, 128, size=(n[i + 1], n[i]))
        w[:, 0] = 127
        inits[f"w{i}"] = (w / 2048.0).astype(np.float32)   # exact in int8 and in Q0.11
        inits[f"b{i}"] = (0.1 * rng.standard_normal(n[i + 1])).astype(np.float32)
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    return save(tmp_path, nodes, (1, n[0]), inits, name="mlp.onnx")


@pytest.mark.parametrize("scheme", ["int8", "fixed"])
def test_auto_selection_meets_target_and_reports(tmp_path, scheme):
    src = _mlp(tmp_path)
    xc = (rand(64, 24) * np.linspace(0.05, 3, 24)).astype(np.float32)
    base = convert(src, str(tmp_path / "a.qmodel"), xc, recover=False, scheme=scheme)
    target = base.output_sqnr_db + 8      # reachable with some int16 layers, not all
    rep = convert(src, str(tmp_path / "b.qmodel"), xc, recover=False, int16_layers="auto",
                  target_sqnr=target, scheme=scheme)
    info = rep.mixed
    assert info["mode"] == "auto" and info["met"], info
    assert info["sqnr_chosen_db"] >= target
    chosen = info["layers"]
    assert 0 < len(chosen) < len(info["sensitivity_db"]), info
    assert info["sqnr_all_int16_db"] > info["sqnr_all_int8_db"] + 30
    # the choice is the most sensitive prefix of the reported order
    order = list(info["sensitivity_db"])
    assert chosen == order[:len(chosen)]
    # and exactly those layers' outputs are int16 in the file
    f = F.read(str(tmp_path / "b.qmodel"))
    names = {n["name"]: n for n in f.header["nodes"]}
    for c in chosen:
        v = c if c in f.header["inputs"] else names[c]["outputs"][0]
        assert f.header["values"][v]["dtype"] == "int16", c
    assert f.header["settings"]["int16_layers"] == chosen
    assert "int16 cost" in str(rep) and info["cost"]["arena_bytes"] >= \
        info["cost"]["arena_bytes_int8"]
    # a shorter prefix does not meet the target (it is the smallest)
    if len(chosen) > 1:
        short = convert(src, str(tmp_path / "c.qmodel"), xc, recover=False,
                        int16_layers=chosen[:-1], scheme=scheme)
        assert short.output_sqnr_db < target + 1.0
    # an easy target keeps everything int8
    easy = convert(src, str(tmp_path / "d.qmodel"), xc, recover=False, int16_layers="auto",
                   target_sqnr=base.output_sqnr_db - 20, scheme=scheme)
    assert easy.mixed["layers"] == [] and F.read(str(tmp_path / "d.qmodel")).header[
        "scheme"] == scheme
    if scheme == "fixed":
        check_fixed_file(str(tmp_path / "b.qmodel"))


def test_bad_int16_layers(tmp_path):
    src = _mlp(tmp_path)
    with pytest.raises(ValueError, match="neither a node"):
        convert(src, str(tmp_path / "m.qmodel"), rand(8, 24), int16_layers=["nope"])
    with pytest.raises(ValueError, match="int16_layers"):
        convert(src, str(tmp_path / "m.qmodel"), rand(8, 24), int16_layers=3)


def test_digits_fixed_within_half_a_point(tmp_path):
    from qengine.data import path as data_path
    z = np.load(data_path("digits.npz"))
    for name, shape in (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))):
        xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(shape)
        xt = (z["x_test"] / 16.0).astype(np.float32).reshape(shape)
        out = str(tmp_path / f"{name}.qmodel")
        convert(data_path(f"{name}.onnx"), out, xc, scheme="fixed")
        check_fixed_file(out)
        g = import_onnx(data_path(f"{name}.onnx"))
        acc_f = np.mean(FloatExecutor(g)(g.to_stored(g.inputs[0], xt)).argmax(1) == z["y_test"])
        m = qengine.load(out)
        xs = nhwc(xt)
        y = np.concatenate([m.run(xs[i:i + 1]) for i in range(len(xs))])
        acc_q = np.mean(y.argmax(1) == z["y_test"])
        assert acc_q >= acc_f - 0.005, (name, acc_f, acc_q)


def test_info_shows_scheme_and_qformats(tmp_path, capsys):
    from qengine.cli import main as cli_main
    src = _mlp(tmp_path)
    out = str(tmp_path / "m.qmodel")
    convert(src, out, rand(16, 24), scheme="fixed", int16_layers=["x"])
    assert cli_main(["info", out]) == 0
    text = capsys.readouterr().out
    assert "scheme: mixed (converted with scheme='fixed'" in text
    assert "int16" in text and "Q" in text
