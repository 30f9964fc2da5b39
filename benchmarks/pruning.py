"""Pruning and teacher-guided recovery, measured (issue 7's targets; docs/PRUNING.md).

    python -m benchmarks.pruning [--quick] [--skip-zoo] [--skip-digits] [--speed-only]
                                 [--reps 15]        (QENGINE_ISA=avx2 ... for that ISA)

1. digits MLP and CNN (qengine/data, real data): test accuracy of the int8 .qmodel (run by
   the runtime) for magnitude vs importance pruning at 50/70/80/90%, each without and with
   recovery; calibration = the training split (scikit-learn digits, the split of
   benchmarks/models/train_digits.py), test = the 450 held-out images.
2. MobileNetV2 and ResNet-18 (random init, benchmarks/models/cache, built by
   benchmarks/models/build_zoo.py): output SQNR vs the float teacher on held-out random
   inputs, without / with recovery, at each sparsity.
3. Speed, one process, interleaved medians, 1 and 2 threads: MobileNetV2 with its 1x1
   layers at 90% (magnitude, importance; and with the classifier at 90% too) vs its dense
   int8 model, with the file sizes; ResNet-18 with 50% of the channels pruned vs dense int8.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

import qengine
from qengine.convert import FloatExecutor, convert, import_onnx
from qengine.convert.lower import lower_for_runtime
from qengine.data import path as data_path

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("QENGINE_ZOO_DIR", os.path.join(HERE, "models", "cache"))


def digits_data():
    """(x_calib, x_test, y_test) as uint8 pixel arrays [N, 8, 8]."""
    try:
        sys.path.insert(0, os.path.join(HERE, "models"))
        from train_digits import load_split
        xtr, xte, _, yte = load_split()
        return xtr, xte, yte
    except ImportError:   # no scikit-learn: the bundled calibration images
        z = np.load(data_path("digits.npz"))
        return z["x_calib"], z["x_test"], z["y_test"]


def runtime_outputs(path, x_onnx, layout):
    """Dequantized outputs of a .qmodel for each sample (the runtime is batch 1)."""
    m = qengine.load(path)
    xs = x_onnx.transpose(0, 2, 3, 1) if layout == "nhwc" else x_onnx
    return np.concatenate([m.run(np.ascontiguousarray(x[None])).reshape(1, -1) for x in xs])


def overall_sparsity(report):
    w = [(r.params, r.sparsity) for r in report.layers if r.weight_scale is not None]
    total = sum(p for p, _ in w)
    return sum(p * s for p, s in w) / total if total else 0.0


def digits_table(tmp, sparsities):
    xc, xt, yt = digits_data()
    print(f"## digits: calibration {len(xc)} training images, test {len(xt)}\n")
    for name, shape in (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))):
        src = data_path(f"{name}.onnx")
        g = import_onnx(src)
        c = (xc / 16.0).astype(np.float32).reshape(shape)
        t = (xt / 16.0).astype(np.float32).reshape(shape)
        acc_f = np.mean(FloatExecutor(g)(g.to_stored(g.inputs[0], t)).argmax(1) == yt)
        layout = g.input_layouts.get(g.inputs[0], "plain")
        out = os.path.join(tmp, f"{name}.qmodel")
        convert(src, out, c)
        acc_q = np.mean(runtime_outputs(out, t, layout).argmax(1) == yt)
        print(f"### {name}: float {100 * acc_f:.2f}%, int8 {100 * acc_q:.2f}%\n")
        print("| sparsity | magnitude | magnitude + recovery | importance | "
              "importance + recovery | model sparsity |")
        print("|---|---|---|---|---|---|")
        for s in sparsities:
            cells, model_s = [], 0.0
            for method in ("magnitude", "importance"):
                for rec in (False, True):
                    r = convert(src, out, c, prune={"sparsity": s, "method": method},
                                recover=rec)
                    acc = np.mean(runtime_outputs(out, t, layout).argmax(1) == yt)
                    cells.append(f"{100 * acc:.2f}")
                    model_s = overall_sparsity(r)
            print(f"| {int(100 * s)}% | " + " | ".join(cells) + f" | {100 * model_s:.1f}% |")
        print()


def zoo_inputs(n, seed):
    return np.random.default_rng(seed).standard_normal((n, 3, 224, 224)).astype(np.float32)


def heldout_sqnr(src, path, x):
    g = import_onnx(src)
    lower_for_runtime(g)
    ref = np.concatenate([FloatExecutor(g)(g.to_stored(g.inputs[0], x[i:i + 1]))
                          for i in range(len(x))]).reshape(len(x), -1).astype(np.float64)
    got = runtime_outputs(path, x, "nhwc").astype(np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - got) ** 2), 1e-30))


def zoo_tables(tmp, sparsities, calib, evals):
    xc, xe = zoo_inputs(calib, 0), zoo_inputs(evals, 1)
    print(f"## zoo (random init): SQNR (dB) of the int8 output vs the float teacher on "
          f"{evals} held-out random inputs; calibration {calib} inputs\n")
    files = {}
    for name, layers in (("mobilenet_v2", "pointwise"), ("resnet18", "all")):
        src = os.path.join(CACHE, f"{name}.onnx")
        if not os.path.exists(src):
            print(f"{src} missing: python -m benchmarks.models.build_zoo")
            continue
        dense = os.path.join(tmp, f"{name}_dense.qmodel")
        convert(src, dense, xc, recover=False)
        plain = heldout_sqnr(src, dense, xe)
        t0 = time.time()
        convert(src, dense, xc, recover=True)
        files[(name, "dense")] = dense
        print(f"### {name} (magnitude, layers={layers}): int8 dense {plain:.2f} dB without "
              f"recovery, {heldout_sqnr(src, dense, xe):.2f} dB with "
              f"({time.time() - t0:.0f} s)\n")
        print("| sparsity | no recovery | recovery | conversion s (recovery) |")
        print("|---|---|---|---|")
        for s in sparsities:
            row = []
            for rec in (False, True):
                out = os.path.join(tmp, f"{name}_{s}_{int(rec)}.qmodel")
                t0 = time.time()
                convert(src, out, xc, prune={"sparsity": s, "method": "magnitude",
                                             "layers": layers}, recover=rec)
                row.append((heldout_sqnr(src, out, xe), time.time() - t0))
                files[(name, s, rec)] = out
            print(f"| {int(100 * s)}% | {row[0][0]:.2f} | {row[1][0]:.2f} | {row[1][1]:.0f} |")
        print()
    return files


def interleaved(paths, reps, x, threads=1, with_min=False):
    """Median ms of each model over `reps` interleaved runs (and the minimum, with_min:
    with 2 threads on a shared machine one descheduled thread can double a run)."""
    models = [qengine.load(p, num_threads=threads) for p in paths]
    for m in models:
        m.run(x)
    times = [[] for _ in models]
    for _ in range(reps):
        for i, m in enumerate(models):
            t = time.perf_counter()
            m.run(x)
            times[i].append(time.perf_counter() - t)
    med = [1e3 * float(np.median(t)) for t in times]
    return (med, [1e3 * float(np.min(t)) for t in times]) if with_min else med


MB_SPECS = (   # (label, prune spec) for the MobileNetV2 speed / size rows
    ("magnitude 90%, layers pointwise", {"sparsity": 0.9, "method": "magnitude",
                                         "layers": "pointwise"}),
    ("importance 90%, layers pointwise", {"sparsity": 0.9, "method": "importance",
                                          "layers": "pointwise"}),
    ("magnitude 90%, layers pointwise, sensitive prune (classifier 90% too)",
     {"sparsity": 0.9, "method": "magnitude", "layers": "pointwise", "sensitive": "prune"}),
)


def speed_and_size(tmp, files, reps, calib):
    """MobileNetV2 with its 1x1 layers 90% sparse (prune block "auto": 1x4 blocks on the
    1x1 convs), storage auto, vs the dense int8 model, 1 and 2 threads, and file sizes;
    ResNet-18 with 50% channels vs dense int8."""
    print(f"## speed ({reps} interleaved runs, median ms; 2 threads: median / min) and "
          f"size\n")
    x = np.random.default_rng(2).standard_normal((1, 224, 224, 3)).astype(np.float32)
    xc = zoo_inputs(calib, 0)
    mb = os.path.join(CACHE, "mobilenet_v2.onnx")
    if os.path.exists(mb):
        dense = files.get(("mobilenet_v2", "dense"))
        if dense is None:
            dense = os.path.join(tmp, "mb_dense.qmodel")
            convert(mb, dense, xc)
        sd = os.path.getsize(dense)
        print("| MobileNetV2 pruning (storage auto) | kb4 layers | dense 1T ms | sparse 1T ms "
              "| speed-up 1T | dense 2T ms | sparse 2T ms | speed-up 2T | file MB | "
              "file / dense |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for i, (label, spec) in enumerate(MB_SPECS):
            path = os.path.join(tmp, f"mb_90_{i}.qmodel")
            r = convert(mb, path, xc, prune=spec)
            n_kb4 = sum(lr.storage == "kb4" for lr in r.layers)
            cells = []
            (td, ts), _ = interleaved([dense, path], reps, x, 1, with_min=True)
            cells += [f"{td:.2f}", f"{ts:.2f}", f"{td / ts:.2f}x"]
            (td, ts), (md, ms) = interleaved([dense, path], reps, x, 2, with_min=True)
            cells += [f"{td:.2f} / {md:.2f}", f"{ts:.2f} / {ms:.2f}",
                      f"{td / ts:.2f}x / {md / ms:.2f}x"]
            ss = os.path.getsize(path)
            print(f"| {label} | {n_kb4} | {' | '.join(cells)} | {ss / 1e6:.2f} | "
                  f"{100 * ss / sd:.0f}% |", flush=True)
        print(f"\ndense int8 file: {sd / 1e6:.2f} MB\n")
    rn = os.path.join(CACHE, "resnet18.onnx")
    if os.path.exists(rn):
        dense = files.get(("resnet18", "dense"))
        if dense is None:
            dense = os.path.join(tmp, "rn_dense.qmodel")
            convert(rn, dense, xc)
        ch = os.path.join(tmp, "rn_channel.qmodel")
        convert(rn, ch, xc, prune={"sparsity": 0.5, "method": "channel"})
        td, tc = interleaved([dense, ch], reps, x)
        print(f"ResNet-18, 50% channels pruned: dense int8 {td:.2f} ms, pruned {tc:.2f} ms "
              f"({td / tc:.2f}x); held-out SQNR {heldout_sqnr(rn, ch, zoo_inputs(4, 1)):.2f} dB")
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer sparsities and inputs")
    p.add_argument("--skip-zoo", action="store_true")
    p.add_argument("--skip-digits", action="store_true")
    p.add_argument("--speed-only", action="store_true", help="only the speed and size part")
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args(argv)
    print(f"ISA {qengine.kernels.isa()['selected']}\n")
    with tempfile.TemporaryDirectory() as tmp:
        if args.speed_only:
            return speed_and_size(tmp, {}, args.reps, 4)
        if not args.skip_digits:
            digits_table(tmp, (0.5, 0.8) if args.quick else (0.5, 0.7, 0.8, 0.9))
        if not args.skip_zoo:
            files = zoo_tables(tmp, (0.9,) if args.quick else (0.5, 0.7, 0.9),
                               4, 2 if args.quick else 4)
            speed_and_size(tmp, files, args.reps, 4)


if __name__ == "__main__":
    main()
