"""The shipped digits models and the benchmark zoo: float executor vs onnxruntime, and
simulated int8 accuracy. The big zoo models are `slow` (QENGINE_SLOW=1 runs them) and
need `python benchmarks/models/build_zoo.py` first."""
import os

import numpy as np
import pytest

pytest.importorskip("onnx")

from qengine.convert import FloatExecutor, import_onnx  # noqa: E402
from qengine.convert.calibrate import calibrate  # noqa: E402
from qengine.convert.quantize import quantize_graph  # noqa: E402
from qengine.convert.simulate import compare  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "qengine", "data")
ZOO = os.environ.get("QENGINE_ZOO_DIR", os.path.join(HERE, "..", "benchmarks", "models", "cache"))
SLOW = os.environ.get("QENGINE_SLOW") == "1"


def digits(name):
    z = np.load(os.path.join(DATA, "digits.npz"))
    shape = (-1, 64) if name == "mlp" else (-1, 1, 8, 8)
    xt = (z["x_test"] / 16.0).astype(np.float32).reshape(shape)
    xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(shape)
    return os.path.join(DATA, f"digits_{name}.onnx"), xt, z["y_test"], xc


def float_error(path, x):
    ort = pytest.importorskip("onnxruntime")
    g = import_onnx(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    got = g.to_onnx(g.outputs[0], FloatExecutor(g)(g.to_stored(g.inputs[0], x)))
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_digits_float_matches_onnxruntime(name):
    path, xt, _, _ = digits(name)
    assert float_error(path, xt[:64]) < 1e-4


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_digits_int8_accuracy_within_0p3_points(name, method):
    path, xt, yt, xc = digits(name)
    g = import_onnx(path)
    qg = quantize_graph(g, calibrate(g, xc, method=method))
    rows, outs = compare(g, qg, g.to_stored(g.inputs[0], xt))
    f, q = outs[g.outputs[0]]
    acc_f, acc_q = (f.argmax(1) == yt).mean(), (q.argmax(1) == yt).mean()
    assert acc_f > 0.95
    assert acc_q >= acc_f - 0.003, (acc_f, acc_q)
    assert all(r["sqnr_db"] > 25 for r in rows), rows


ZOO_MODELS = {"mobilenet_v2": (1, 3, 224, 224), "resnet18": (1, 3, 224, 224),
              "ds_cnn": (1, 1, 49, 10), "mlp": (1, 784)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO_MODELS))
def test_zoo_float_matches_onnxruntime(name):
    if not SLOW:
        pytest.skip("slow: set QENGINE_SLOW=1")
    path = os.path.join(ZOO, f"{name}.onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} missing: run benchmarks/models/build_zoo.py")
    x = np.random.default_rng(0).standard_normal(ZOO_MODELS[name]).astype(np.float32)
    assert float_error(path, x) < 1e-4
