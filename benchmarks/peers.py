"""qengine against ONNX Runtime, side by side, in one process.

    python -m benchmarks.peers [--models mobilenet_v2,resnet18,ds_cnn,mlp] [--threads 1,2]
                               [--runs 60] [--warmup 10] [--json out.json] [--png out.png]

For each model of the zoo (benchmarks/models/build_zoo.py; built first if missing, which
needs torch) it prepares ONNX Runtime float32, ONNX Runtime int8 (quantize_static,
per-channel weights: QOperator u8s8, QDQ u8s8, QDQ s8s8) and qengine int8 (and, when
pruning is available, qengine int8 with 90%-sparse 1x1 layers), all from the same float
model and the same calibration inputs. Then it times batch-1 runs round-robin — a few runs of
each contender in turn, in short bursts whose first run is dropped — so machine noise hits
everyone alike and each is timed in steady state; it prints a markdown table
of median (p90) milliseconds and the ratio qengine / best ONNX Runtime int8.
onnxruntime is a benchmark-only dependency.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
MODELS = ["mobilenet_v2", "resnet18", "ds_cnn", "mlp"]
ORT_INT8 = ["ORT int8 QOperator u8s8", "ORT int8 QDQ u8s8", "ORT int8 QDQ s8s8"]


def zoo_path(name):
    folder = os.environ.get("QENGINE_ZOO_DIR", os.path.join(ZOO, "cache"))
    path = os.path.join(folder, f"{name}.onnx")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(ZOO, "build_zoo.py"), "--only", name],
                       check=True)
    return path


def input_shape(path):
    import onnx

    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)


def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


def ort_quantize(path, calib, fmt, folder):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{input_name: c} for c in calib])

        def get_next(self):
            return next(self.items, None)

    import onnx
    input_name = onnx.load(path).graph.input[0].name
    pre = os.path.join(folder, "pre.onnx")
    if not os.path.exists(pre):
        quant_pre_process(path, pre, skip_symbolic_shape=True)
    out = os.path.join(folder, fmt.replace(" ", "_") + ".onnx")
    qformat = QuantFormat.QOperator if "QOperator" in fmt else QuantFormat.QDQ
    act = QuantType.QUInt8 if "u8s8" in fmt else QuantType.QInt8
    quantize_static(pre, out, Reader(), quant_format=qformat, per_channel=True,
                    activation_type=act, weight_type=QuantType.QInt8)
    return out


def qengine_model(path, calib, folder, threads, prune=None):
    import qengine
    from qengine.convert import convert

    out = os.path.join(folder, "qengine" + ("_sparse" if prune else "") + ".qmodel")
    if not os.path.exists(out):
        convert(path, out, calibration=np.concatenate(calib), prune=prune)
    m = qengine.load(out, num_threads=threads)
    return m.run


def contenders(name, threads, folder):
    """{name: (run function, its input)}: ONNX Runtime takes the ONNX layout (NCHW),
    qengine its own (NHWC) — the same values, laid out once outside the timing."""
    path = zoo_path(name)
    shape = input_shape(path)
    rng = np.random.default_rng(0)
    calib = [rng.normal(0, 1, size=shape).astype(np.float32) for _ in range(8)]
    x = rng.normal(0, 1, size=shape).astype(np.float32)
    xq = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x
    out = {"ORT float32": (ort_session(path, threads), x)}
    for fmt in ORT_INT8:
        out[fmt] = (ort_session(ort_quantize(path, calib, fmt, folder), threads), x)
    out["qengine int8"] = (qengine_model(path, calib, folder, threads), xq)
    try:
        out["qengine int8 + 90% sparse 1x1"] = (qengine_model(
            path, calib, folder, threads, prune={"sparsity": 0.9, "method": "magnitude",
                                                 "layers": "pointwise"}), xq)
    except (NotImplementedError, TypeError, ValueError) as exc:
        print(f"  ({name}: sparse variant skipped: {exc})", file=sys.stderr)
    return out


def time_round_robin(fns, runs, warmup, burst=5, settle=0.05):
    """Rounds of short bursts: in every round each contender runs `burst` times in a row and
    the first run of each burst is not timed, so every engine is timed in its own steady
    state (its weights in cache, its threads awake) while machine noise is still spread over
    all of them. Before each burst the process sleeps `settle` seconds: thread pools
    spin-wait for a while after a run (ONNX Runtime's for more than 10 ms by default,
    qengine's for ~1 ms), and a pool still spinning on one of 2 cores slows the next
    engine's 2-thread runs (measured: ONNX Runtime's int8 sessions 1.85 -> 2.75 ms on
    MobileNetV2 after its float32 session with a 10 ms pause)."""
    for fn, x in fns.values():
        for _ in range(warmup):
            fn(x)
    samples = {k: [] for k in fns}
    while min(len(v) for v in samples.values()) < runs:
        for k, (fn, x) in fns.items():
            time.sleep(settle)
            for b in range(burst):
                t0 = time.perf_counter()
                fn(x)
                if b:
                    samples[k].append((time.perf_counter() - t0) * 1e3)
    return {k: (float(np.median(v)), float(np.percentile(v, 90))) for k, v in samples.items()}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def markdown(results):
    cols = ["ORT float32"] + ORT_INT8 + ["qengine int8", "qengine int8 + 90% sparse 1x1"]
    lines = ["| model | threads | " + " | ".join(cols) + " | qengine / best ORT int8 | "
             "ORT f32 / qengine |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    for (model, threads), res in results.items():
        cells = [f"{res[c][0]:.3f} ({res[c][1]:.3f})" if c in res else "-" for c in cols]
        best = min(res[c][0] for c in ORT_INT8)
        q = res["qengine int8"][0]
        lines.append(f"| {model} | {threads} | " + " | ".join(cells) +
                     f" | **{q / best:.2f}** | {res['ORT float32'][0] / q:.2f}x |")
    return "\n".join(lines)


def bar_chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no chart)", file=sys.stderr)
        return
    keys = list(results)
    names = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.bar([j + i * width for j in range(len(keys))],
               [results[k].get(n, (0,))[0] / results[k]["qengine int8"][0] for k in keys],
               width, label=n)
    ax.set_xticks([j + 0.4 for j in range(len(keys))], [f"{m}\n{t} thr" for m, t in keys])
    ax.set_ylabel("latency relative to qengine int8")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"chart: {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--json")
    p.add_argument("--png")
    args = p.parse_args(argv)
    import qengine

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            folder = os.path.join(tmp, name)
            os.makedirs(folder)
            for threads in (int(t) for t in args.threads.split(",")):
                print(f"{name}, {threads} thread(s): preparing ...", file=sys.stderr)
                fns = contenders(name, threads, folder)
                results[(name, threads)] = time_round_robin(fns, args.runs, args.warmup)
    import onnxruntime

    print(f"\n{cpu_model()}, {os.cpu_count()} cores; qengine {qengine.__version__} "
          f"({qengine.kernels.isa()['selected']}), onnxruntime {onnxruntime.__version__}; "
          f"batch 1, median (p90) ms over {args.runs} runs in round-robin bursts, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{m}/{t}": r for (m, t), r in results.items()}, f, indent=1)
    if args.png:
        bar_chart(results, args.png)


if __name__ == "__main__":
    main()
