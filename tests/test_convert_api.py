"""convert(): small hand-made ONNX graphs, one per op of the version-1 table, written as
.qmodel files that read back, run (kernels; the runtime where it knows the ops) close to
the float teacher; input untouched, no partial output, calibration forms, report, CLI."""
import hashlib
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from qengine import UnsupportedOpError  # noqa: E402
from qengine import format as F  # noqa: E402
from qengine.cli import main as cli_main  # noqa: E402
from qengine.convert import FloatExecutor, convert, import_onnx  # noqa: E402
from qengine.convert.kexec import KernelExecutor  # noqa: E402
from qengine.convert.report import sqnr  # noqa: E402

RNG = np.random.default_rng(11)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def save(tmp_path, nodes, in_shape, inits=None, name="m.onnx", opset=13):
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    path = str(tmp_path / name)
    onnx.save(m, path)
    return path


def conv_in(cin=4, cout=6, k=3, **kw):
    return [helper.make_node("Conv", ["x", "w", "b"], ["c"], **kw)], \
        {"w": rand(cout, cin, k, k, scale=0.3), "b": rand(cout, scale=0.1)}


def case_conv():
    n, i = conv_in(pads=[1, 1, 1, 1])
    return n + [helper.make_node("Relu", ["c"], ["y"])], i, (1, 4, 6, 5)


def case_depthwise():
    n, i = conv_in(4, 4, group=4, pads=[1, 1, 1, 1], strides=[2, 2])
    i["w"] = rand(4, 1, 3, 3)
    return n + [helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], \
        dict(i, lo=np.float32(0), hi=np.float32(6)), (1, 4, 7, 6)


def case_gemm():
    return [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], \
        {"w": rand(5, 12, scale=0.3), "b": rand(5)}, (1, 12)


def case_maxpool():
    n, i = conv_in()
    return n + [helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], \
        i, (1, 4, 8, 8)


def case_avgpool():
    n, i = conv_in()
    return n + [helper.make_node("AveragePool", ["c"], ["y"], kernel_shape=[3, 3],
                                 pads=[1, 1, 1, 1])], i, (1, 4, 6, 6)


def case_gap_flatten_gemm():
    n, i = conv_in()
    return n + [helper.make_node("GlobalAveragePool", ["c"], ["p"]),
                helper.make_node("Flatten", ["p"], ["f"]),
                helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)], \
        dict(i, w2=rand(3, 6), b2=rand(3)), (1, 4, 5, 5)


def case_add_mul():
    n, i = conv_in()
    n.append(helper.make_node("Conv", ["x", "w3", "b"], ["d"], ))
    return n + [helper.make_node("Add", ["c", "d"], ["s"]),
                helper.make_node("Mul", ["s", "c"], ["y"])], \
        dict(i, w3=rand(6, 4, 3, 3, scale=0.3)), (1, 4, 5, 5)


def case_const_mul_add():
    n, i = conv_in()
    return n + [helper.make_node("Mul", ["c", "k"], ["m"]),
                helper.make_node("Add", ["m", "k2"], ["y"])], \
        dict(i, k=rand(1, 6, 1, 1), k2=np.float32(0.5)), (1, 4, 5, 5)


def case_concat():
    n, i = conv_in()
    n.append(helper.make_node("Conv", ["x", "w3"], ["d"], ))
    return n + [helper.make_node("Concat", ["c", "d"], ["y"], axis=1)], \
        dict(i, w3=rand(3, 4, 3, 3, scale=0.3)), (1, 4, 5, 5)


def case_luts():
    return [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
            helper.make_node("Sigmoid", ["g"], ["s"]),
            helper.make_node("Tanh", ["g"], ["t"]),
            helper.make_node("Add", ["s", "t"], ["u"]),
            helper.make_node("HardSwish", ["u"], ["y"])], \
        {"w": rand(8, 10, scale=0.5), "b": rand(8)}, (1, 10)


def case_softmax():
    return [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
            helper.make_node("Softmax", ["g"], ["y"], axis=-1)], \
        {"w": rand(10, 12, scale=0.5), "b": rand(10)}, (1, 12)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}
TABLE = {"conv": {"Conv2D"}, "depthwise": {"Conv2D"}, "gemm": {"FullyConnected"},
         "maxpool": {"MaxPool2D"}, "avgpool": {"AvgPool2D"},
         "gap_flatten_gemm": {"GlobalAvgPool", "Reshape", "FullyConnected"},
         "add_mul": {"Add", "Mul"}, "const_mul_add": {"Conv2D"}, "concat": {"Concat"},
         "luts": {"Lut", "Add"}, "softmax": {"Softmax"}}


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def run_file(path, x_onnx):
    f = F.read(path)
    ex = KernelExecutor(f.header, f.constants)
    o = f.header["outputs"][0]
    return f, ex.dequantize(o, ex.run(nhwc(x_onnx))[o])


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_op_converts_loads_and_runs(tmp_path, case):
    nodes, inits, shape = CASES[case]()
    src = save(tmp_path, nodes, shape, inits)
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
    xc = rand(64, *shape[1:])
    out = str(tmp_path / "m.qmodel")
    report = convert(src, out, xc)
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == digest
    f, y = run_file(out, xc[:16])
    ops = {n["op"] for n in f.header["nodes"]}
    assert TABLE[case] <= ops, ops
    g = import_onnx(src)
    ref = FloatExecutor(g)(g.to_stored(g.inputs[0], xc[:16]))
    db = sqnr(np.sum(ref.astype(np.float64) ** 2), np.sum((ref - y.reshape(ref.shape)) ** 2))
    assert db > 20, (case, db)
    assert report.output_sqnr_db > 20
    assert report.qmodel_bytes == os.path.getsize(out)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".qmodel-")] == []
    _runtime_matches(out, xc[:4], y[:4])


def _runtime_matches(path, x, want):
    """Once the runtime knows every op of the file: bit-exact with the kernel executor."""
    import qengine
    try:
        m = qengine.load(path)
    except qengine.ModelFormatError as exc:
        if "unknown op" in str(exc):  # the runtime does not run this op yet
            return
        raise
    got = np.concatenate([np.asarray(m.run(nhwc(x[i:i + 1]))).reshape(1, -1)
                          for i in range(len(x))])
    np.testing.assert_array_equal(got, want.reshape(len(x), -1))


def test_unsupported_leaves_no_output(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Erf", ["g"], ["e"]),
             helper.make_node("Sin", ["e"], ["y"])]
    src = save(tmp_path, nodes, (1, 6), {"w": rand(4, 6), "b": rand(4)})
    out = tmp_path / "m.qmodel"
    with pytest.raises(UnsupportedOpError) as exc:
        convert(src, out, rand(4, 6))
    assert "Erf" in str(exc.value) and "Sin" in str(exc.value)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_transpose_that_moves_data_is_unsupported(tmp_path):
    n, i = conv_in()
    n.append(helper.make_node("Transpose", ["c"], ["y"], perm=[0, 1, 3, 2]))
    src = save(tmp_path, n, (1, 4, 5, 5), i)
    with pytest.raises(UnsupportedOpError, match="Transpose"):
        convert(src, tmp_path / "m.qmodel", rand(2, 4, 5, 5))
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_failure_keeps_an_existing_output(tmp_path):
    nodes, inits, shape = case_gemm()
    src = save(tmp_path, nodes, shape, inits)
    out = tmp_path / "m.qmodel"
    out.write_bytes(b"old")
    with pytest.raises(ValueError):
        convert(src, out, rand(3, 7))           # wrong calibration shape
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.qmodel"]


def test_calibration_forms_agree(tmp_path):
    nodes, inits, shape = case_conv()
    src = save(tmp_path, nodes, shape, inits)
    xc = rand(20, *shape[1:])
    np.save(tmp_path / "c.npy", xc)
    np.savez(tmp_path / "c.npz", x=xc)
    forms = {"array": xc, "list": list(xc), "batches": (xc[i:i + 7] for i in range(0, 20, 7)),
             "npy": str(tmp_path / "c.npy"), "npz": str(tmp_path / "c.npz"),
             "dicts": [{"x": xc[:10]}, {"x": xc[10:]}]}
    blobs = {}
    for k, data in forms.items():
        out = tmp_path / f"{k}.qmodel"
        r = convert(src, out, data)
        assert r.samples == 20
        blobs[k] = out.read_bytes()
    assert len(set(blobs.values())) == 1


def test_report_fields_and_json(tmp_path):
    nodes, inits, shape = case_gap_flatten_gemm()
    src = save(tmp_path, nodes, shape, inits)
    r = convert(src, tmp_path / "m.qmodel", rand(16, *shape[1:]), calibrate="percentile")
    ops = [layer.op for layer in r.layers]
    assert ops[0] == "Conv2D" and ops[-1] == "FullyConnected"
    conv = r.layers[0]
    assert conv.scheme == "int8" and conv.storage == "dense" and conv.params == 6 * 4 * 9 + 6
    assert 0 <= conv.sparsity < 1 and conv.weight_scale[0] <= conv.weight_scale[1]
    assert all(np.isfinite(layer.sqnr_db) for layer in r.layers)
    assert 0 <= r.top1_agreement <= 1 and r.samples == 16
    assert r.float_bytes == os.path.getsize(src) and r.qmodel_bytes > 0
    text = str(r)
    assert "Conv2D" in text and "output SQNR" in text
    d = json.loads(r.to_json())
    assert d["layers"][0]["op"] == "Conv2D" and d["calibrate"] == "percentile"
    r.save(tmp_path / "r.json")
    assert json.load(open(tmp_path / "r.json"))["samples"] == 16


def test_bias_correction_does_not_hurt(tmp_path):
    nodes, inits, shape = case_gap_flatten_gemm()
    src = save(tmp_path, nodes, shape, inits)
    xc = rand(64, *shape[1:]) + 0.5
    a = convert(src, tmp_path / "a.qmodel", xc, recover=False)
    b = convert(src, tmp_path / "b.qmodel", xc, recover=True)
    assert b.output_sqnr_db >= a.output_sqnr_db - 0.1, (a.output_sqnr_db, b.output_sqnr_db)


def test_not_yet_implemented_and_bad_arguments(tmp_path):
    nodes, inits, shape = case_gemm()
    src = save(tmp_path, nodes, shape, inits)
    x = rand(4, 12)
    with pytest.raises(ValueError, match="scheme"):
        convert(src, tmp_path / "m.qmodel", x, scheme="int4")
    with pytest.raises(ValueError, match="prune method"):
        convert(src, tmp_path / "m.qmodel", x, prune={"sparsity": 0.5, "method": "random"})
    with pytest.raises(ValueError, match="sparsity"):
        convert(src, tmp_path / "m.qmodel", x, prune={"sparsity": 1.5})
    with pytest.raises(ValueError, match="calibrate"):
        convert(src, tmp_path / "m.qmodel", x, calibrate="best")
    with pytest.raises(ValueError, match="output"):
        convert(src, src, x)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_cli_convert(tmp_path, capsys):
    nodes, inits, shape = case_conv()
    src = save(tmp_path, nodes, shape, inits)
    np.savez(tmp_path / "c.npz", x=rand(8, *shape[1:]))
    out, rep = tmp_path / "m.qmodel", tmp_path / "r.json"
    assert cli_main(["convert", src, "-o", str(out), "--calib", str(tmp_path / "c.npz"),
                     "--calibrate", "entropy", "--report", str(rep)]) == 0
    text = capsys.readouterr().out
    assert "Conv2D" in text and "output SQNR" in text
    assert F.read(str(out)).header["settings"]["calibrate"] == "entropy"
    assert json.load(open(rep))["calibrate"] == "entropy"
    assert cli_main(["convert", src, "-o", str(tmp_path / "n.qmodel"), "--calib",
                     str(tmp_path / "missing.npy")]) == 1
    assert not (tmp_path / "n.qmodel").exists()


def test_digits_accuracy_within_0_3_points(tmp_path):
    from qengine.data import path as data_path
    z = np.load(data_path("digits.npz"))
    for name, shape in (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))):
        xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(shape)
        xt = (z["x_test"] / 16.0).astype(np.float32).reshape(shape)
        out = str(tmp_path / f"{name}.qmodel")
        convert(data_path(f"{name}.onnx"), out, xc)
        g = import_onnx(data_path(f"{name}.onnx"))
        acc_f = np.mean(FloatExecutor(g)(g.to_stored(g.inputs[0], xt)).argmax(1) == z["y_test"])
        _, y = run_file(out, xt)
        acc_q = np.mean(y.reshape(len(xt), -1).argmax(1) == z["y_test"])
        assert acc_q >= acc_f - 0.003, (name, acc_f, acc_q)


def test_bias_correction_kept_only_when_it_helps_held_out_samples(monkeypatch):
    """bias_correct_checked fits on the first half of the samples, keeps the correction
    (refitted on all samples) only if the second half's output SQNR rises."""
    from qengine.convert import recover as R
    fitted = []
    monkeypatch.setattr(R, "teacher_means", lambda graph, batches: {})
    monkeypatch.setattr(R, "restore_biases", lambda *a: fitted.append("undo"))

    def fake_correct(graph, qg, builder, kexec, batches, target=None, undo=None):
        fitted.append(sum(len(b["x"]) for b in batches))
        return {"layer": 1.0}

    monkeypatch.setattr(R, "bias_correct", fake_correct)
    batches = [{"x": np.zeros((3, 2))}, {"x": np.zeros((3, 2))}]

    def run(sqnrs):
        fitted.clear()
        it = iter(sqnrs)
        return R.bias_correct_checked(None, None, None, None, None, batches, {},
                                      lambda m: m, lambda held: next(it))

    assert run([20.0, 19.0]) is None and fitted == [3, "undo"]          # worse: none
    assert run([20.0, 20.0]) is None and fitted == [3, "undo"]          # no gain: none
    assert run([20.0, 21.0]) == {"layer": 1.0} and fitted == [3, "undo", 6]
    fitted.clear()
    few = [{"x": np.zeros((3, 2))}]   # under 4 samples: no held-out check
    assert R.bias_correct_checked(None, None, None, None, None, few, {}, lambda m: m,
                                  None) == {"layer": 1.0} and fitted == [3]
