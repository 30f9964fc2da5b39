"""`qengine demo`: the main job on the bundled digits CNN, end to end, offline.

Converts the float ONNX model (trained on scikit-learn's digits by
benchmarks/models/train_digits.py) to each qengine variant, runs the 450 held-out test
images through each, and prints one table: accuracy, file size, latency (median of
batch-1 runs, one thread) and speed-up over the float model run by the numpy reference
executor (the converter's teacher).
"""
import os
import sys
import tempfile
import time

import numpy as np

import qengine

VARIANTS = [
    ("int8", {"scheme": "int8"}),
    ("fixed-point", {"scheme": "fixed"}),
    ("int8 + 80% pruned", {"scheme": "int8", "recover": True,
                           "prune": {"sparsity": 0.8, "method": "importance"}}),
]


def _data_path(name):
    return os.path.join(os.path.dirname(__import__("qengine.data").data.__file__), name)


def load_digits():
    """Test split and calibration images as float32 [N, 1, 8, 8] in [0, 1], labels."""
    z = np.load(_data_path("digits.npz"))
    as_float = lambda x: (x.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)  # noqa: E731
    return as_float(z["x_test"]), z["y_test"].astype(np.int64), as_float(z["x_calib"])


def _median_latency_ms(fn, xs, repeats):
    times = []
    for i in range(repeats):
        x = xs[i % len(xs)]
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _evaluate(fn, xs, ys):
    preds = np.array([int(np.argmax(fn(x))) for x in xs])
    return float(np.mean(preds == ys))


def run(out_dir=None, threads=1, repeats=300, stream=sys.stdout):
    from qengine.convert import FloatExecutor, convert, import_onnx

    say = lambda msg: print(msg, file=stream, flush=True)  # noqa: E731
    out_dir = out_dir or tempfile.mkdtemp(prefix="qengine-demo-")
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = _data_path("digits_cnn.onnx")
    x_test, y_test, x_calib = load_digits()
    samples = [x_test[i:i + 1] for i in range(len(x_test))]          # ONNX layout, NCHW
    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in samples]

    teacher = FloatExecutor(import_onnx(onnx_path))                  # runs NHWC
    float_ms = _median_latency_ms(teacher, nhwc, max(50, repeats // 4))
    rows = [("float32 (numpy reference)", _evaluate(teacher, nhwc, y_test),
             os.path.getsize(onnx_path), float_ms, 1.0, "")]

    for i, (name, options) in enumerate(VARIANTS, 1):
        path = os.path.join(out_dir, f"digits_cnn_{name.split()[0].replace('-', '_')}"
                                     f"{'_pruned' if 'prune' in options else ''}.qmodel")
        say(f"[{i}/{len(VARIANTS)}] converting to {name} ...")
        t0 = time.perf_counter()
        try:
            convert(onnx_path, path, calibration=x_calib, **options)
        except NotImplementedError as exc:
            say(f"      skipped: {exc}")
            rows.append((name, None, None, None, None, "not available yet"))
            continue
        model = qengine.load(path, num_threads=threads)
        inputs = nhwc
        acc = _evaluate(model.run, inputs, y_test)
        ms = _median_latency_ms(model.run, inputs, repeats)
        say(f"      done in {time.perf_counter() - t0:.1f} s -> {path}")
        rows.append((name, acc, os.path.getsize(path), ms, float_ms / ms, ""))

    say("")
    say(f"qengine demo: digits CNN (8x8 images, {len(y_test)} test images), batch 1, "
        f"{threads} thread(s), ISA {qengine.kernels.isa()['selected']}")
    say(f"{'variant':<27} {'accuracy':>9} {'file size':>11} {'latency':>11} "
        f"{'speed-up':>9}")
    for name, acc, size, ms, speedup, note in rows:
        if acc is None:
            say(f"{name:<27} {note:>9}")
            continue
        say(f"{name:<27} {100 * acc:8.2f}% {size / 1024:8.1f} KiB {1e3 * ms:8.1f} us "
            f"{speedup:8.1f}x")
    say(f"\n.qmodel files are in {out_dir}")
    return rows
