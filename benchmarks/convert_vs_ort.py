"""Our int8 conversion vs onnxruntime.quantization.quantize_static, side by side.

    python -m benchmarks.convert_vs_ort [--zoo DIR] [--calib 16] [--eval 8] [--only ds_cnn]

Both get the same calibration inputs and are judged on the same (disjoint) evaluation
inputs against onnxruntime's float output: output SQNR (dB) and top-1 agreement. ORT:
QOperator format, per-channel int8 weights, int8 activations, MinMax calibration. Ours:
`convert()` with each calibration method, with and without bias correction; our .qmodel
is run by qengine.load() when the runtime knows every op, else by the kernel executor
(qengine.convert.kexec, the same kernels and parameters). Digits models: the bundled
calibration / test split, also test accuracy.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

from qengine.convert import convert
from qengine.convert.kexec import KernelExecutor
from qengine.convert.report import sqnr
from qengine.data import path as data_path
from qengine import format as F

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = {"mobilenet_v2": (3, 224, 224), "resnet18": (3, 224, 224), "ds_cnn": (1, 49, 10),
       "mlp": (784,)}


def to_nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def run_qmodel(path, x):
    """Float outputs of our .qmodel on ONNX-layout inputs x (first output)."""
    xs = to_nhwc(x)
    try:
        import qengine
        m = qengine.load(path)
        ys = [np.asarray(m.run(xs[i:i + 1])) for i in range(len(xs))]
        y = np.concatenate([v.reshape(1, -1) for v in ys])
        return y, "runtime"
    except Exception:  # runtime without these ops yet: same kernels, same parameters
        f = F.read(path)
        ex = KernelExecutor(f.header, f.constants)
        o = f.header["outputs"][0]
        y = ex.dequantize(o, ex.run(xs)[o])
        return y.reshape(len(xs), -1), "kernels"


def ort_float(path, x):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0].reshape(1, -1)
                           for i in range(len(x))])


def ort_int8(path, xc, out):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
    import onnxruntime as ort
    name = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: xc[i:i + 1]} for i in range(len(xc))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(path, out, Reader(), quant_format=QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    return out


def compare(name, path, xc, xe, ye, methods, tmp):
    ref = ort_float(path, xe)
    rows = []
    t0 = time.time()
    q = ort_int8(path, xc, os.path.join(tmp, f"{name}.ort.onnx"))
    t_ort = time.time() - t0
    y = ort_float(q, xe)
    rows.append(("onnxruntime minmax", sqnr(np.sum(ref**2), np.sum((ref - y)**2)),
                 _agree(ref, y), _acc(y, ye), t_ort, "ort"))
    for m in methods:
        for rec in (False, True):
            out = os.path.join(tmp, f"{name}.{m}.{int(rec)}.qmodel")
            t0 = time.time()
            convert(path, out, xc, calibrate=m, recover=rec)
            t = time.time() - t0
            y, how = run_qmodel(out, xe)
            rows.append((f"qengine {m}{' +bias corr.' if rec else ''}",
                         sqnr(np.sum(ref**2), np.sum((ref - y)**2)), _agree(ref, y),
                         _acc(y, ye), t, how))
    print(f"\n{name}: {len(xc)} calibration / {len(xe)} evaluation inputs; float "
          f"accuracy {_fmt(_acc(ref, ye))}")
    print(f"  {'':<30}{'SQNR dB':>8}{'top-1 agree':>12}{'accuracy':>9}{'convert s':>10}  run by")
    for r in rows:
        print(f"  {r[0]:<30}{r[1]:8.2f}{r[2]:12.3f}{_fmt(r[3]):>9}{r[4]:10.1f}  {r[5]}")
    sys.stdout.flush()
    return rows


def _agree(ref, y):
    return float(np.mean(ref.argmax(1) == y.argmax(1))) if ref.shape[1] > 1 else float("nan")


def _acc(y, labels):
    return None if labels is None else float(np.mean(y.argmax(1) == labels))


def _fmt(v):
    return "" if v is None else f"{v * 100:.2f}%"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", default=os.environ.get("QENGINE_ZOO_DIR",
                                                   os.path.join(HERE, "models", "cache")))
    p.add_argument("--calib", type=int, default=16, help="zoo calibration samples")
    p.add_argument("--eval", type=int, default=8, help="zoo evaluation samples")
    p.add_argument("--methods", default="minmax,percentile,entropy,mse")
    p.add_argument("--only", default=None)
    args = p.parse_args(argv)
    methods = args.methods.split(",")
    only = args.only.split(",") if args.only else None
    with tempfile.TemporaryDirectory() as tmp:
        z = np.load(data_path("digits.npz"))
        for name, shape in (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))):
            if only and name not in only:
                continue
            xt = (z["x_test"] / 16.0).astype(np.float32).reshape(shape)
            xc = (z["x_calib"] / 16.0).astype(np.float32).reshape(shape)
            compare(name, data_path(f"{name}.onnx"), xc, xt, z["y_test"], methods, tmp)
        rng = np.random.default_rng(0)
        for name, shape in ZOO.items():
            if only and name not in only:
                continue
            path = os.path.join(args.zoo, f"{name}.onnx")
            if not os.path.exists(path):
                print(f"\n{name}: {path} missing (python benchmarks/models/build_zoo.py)")
                continue
            xc = rng.standard_normal((args.calib,) + shape).astype(np.float32)
            xe = rng.standard_normal((args.eval,) + shape).astype(np.float32)
            compare(name, path, xc, xe, None, methods, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
