"""Converter front half, measured: float executor vs onnxruntime, and the simulated int8
model's accuracy / SQNR per calibration method (before the runtime exists).

    python -m benchmarks.convert_accuracy [--zoo DIR] [--calib 16] [--eval 8] [--layers]

Digits models: test accuracy float vs int8 (calibrated on the 128 bundled training
images). Zoo models (random weights, built by benchmarks/models/build_zoo.py): calibrated
and evaluated on disjoint random-normal inputs; output SQNR and top-1 agreement.
"""
import argparse
import os
import sys
import time

import numpy as np

from qengine.convert import FloatExecutor, import_onnx
from qengine.convert.calibrate import METHODS, calibrate
from qengine.convert.quantize import quantize_graph
from qengine.convert.simulate import compare, sqnr_db
from qengine.data import path as data_path

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = {"mobilenet_v2": (3, 224, 224), "resnet18": (3, 224, 224), "ds_cnn": (1, 49, 10),
       "mlp": (784,)}


def ort_error(path, x):
    try:
        import onnxruntime as ort
    except ImportError:
        return float("nan")
    g = import_onnx(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    got = g.to_onnx(g.outputs[0], FloatExecutor(g)(g.to_stored(g.inputs[0], x)))
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


def evaluate(path, xc, xe, ye=None, layers=False):
    g = import_onnx(path)
    xs = g.to_stored(g.inputs[0], xe)
    out = {}
    for m in METHODS:
        t0 = time.time()
        qg = quantize_graph(g, calibrate(g, xc, method=m))
        t_cal = time.time() - t0
        rows, outs = compare(g, qg, xs)
        f, q = outs[g.outputs[0]]
        out[m] = {"sqnr": sqnr_db(f, q), "agree": float((f.argmax(1) == q.argmax(1)).mean()),
                  "acc_f": None if ye is None else float((f.argmax(1) == ye).mean()),
                  "acc_q": None if ye is None else float((q.argmax(1) == ye).mean()),
                  "min_layer": min(r["sqnr_db"] for r in rows), "t_cal": t_cal, "rows": rows}
    return out


def report(name, err, res, layers):
    print(f"\n{name}: float executor vs onnxruntime, max |err| / output range = {err:.2e}")
    print(f"  {'method':<11}{'out SQNR dB':>12}{'worst layer':>12}{'top-1 agree':>12}"
          f"{'acc float':>10}{'acc int8':>9}{'calib s':>8}")
    for m, r in res.items():
        acc = (f"{r['acc_f']:10.4f}{r['acc_q']:9.4f}" if r["acc_f"] is not None else f"{'':10}{'':9}")
        print(f"  {m:<11}{r['sqnr']:12.1f}{r['min_layer']:12.1f}{r['agree']:12.3f}{acc}{r['t_cal']:8.1f}")
        if layers:
            for row in r["rows"]:
                print(f"      {row['op']:<16}{row['name'][:40]:<42}{row['scale']:10.4g}"
                      f"{row['zero_point']:5d}{row['sqnr_db']:8.1f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", default=os.environ.get("QENGINE_ZOO_DIR", os.path.join(HERE, "models", "cache")))
    p.add_argument("--calib", type=int, default=16, help="zoo calibration samples")
    p.add_argument("--eval", type=int, default=8, help="zoo evaluation samples")
    p.add_argument("--only", default=None)
    p.add_argument("--layers", action="store_true", help="per-layer SQNR table")
    args = p.parse_args(argv)
    z = np.load(data_path("digits.npz"))
    for name, shape in (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))):
        if args.only and name not in args.only.split(","):
            continue
        xt = (z["x_test"] / 16.0).astype(np.float32).reshape(shape)
        xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(shape)
        path = data_path(f"{name}.onnx")
        report(name, ort_error(path, xt), evaluate(path, xc, xt, z["y_test"]), args.layers)
    rng = np.random.default_rng(0)
    for name, shape in ZOO.items():
        if args.only and name not in args.only.split(","):
            continue
        path = os.path.join(args.zoo, f"{name}.onnx")
        if not os.path.exists(path):
            print(f"\n{name}: {path} missing (python benchmarks/models/build_zoo.py)")
            continue
        xc = rng.standard_normal((args.calib,) + shape).astype(np.float32)
        xe = rng.standard_normal((args.eval,) + shape).astype(np.float32)
        report(name, ort_error(path, xe[:1]), evaluate(path, xc, xe), args.layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
