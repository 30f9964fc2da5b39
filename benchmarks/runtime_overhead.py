"""Per-call overhead of qengine.Model.run vs ONNX Runtime on the same tiny 3-layer MLP.

    python -m benchmarks.runtime_overhead [--rounds 15] [--calls 2000]

One float MLP (64 -> 48 -> ReLU -> 32 -> ReLU -> 10, batch 1, seeded random weights) is
built twice: as a float ONNX model (onnx.helper) quantized for ONNX Runtime by
onnxruntime.quantization.quantize_static (QOperator, per-channel int8 weights, uint8
activations, MinMax calibration), and as a .qmodel (GraphBuilder) whose int8 weights and
scales come from the same float weights and the same calibration data by a few lines of
numpy below. Both run one thread, float32 in and out, in one process, interleaved: each
round times `calls` calls of each engine; the table shows medians over the rounds.
Benchmark-only dependencies: onnx, onnxruntime.
"""
import argparse
import logging
import os
import tempfile
import time

import numpy as np

SIZES = (64, 48, 32, 10)


def float_mlp(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1 / np.sqrt(k), size=(k, n)).astype(np.float32),
             rng.normal(0, 0.1, size=n).astype(np.float32))
            for k, n in zip(SIZES[:-1], SIZES[1:])]


def forward(layers, x):
    """Float forward pass: every activation, input first."""
    acts = [x]
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
        acts.append(x)
    return acts


def onnx_model(layers, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, prev = [], [], "x"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = f"h{i}" if i < len(layers) - 1 else "y"
        mm = f"mm{i}" if i < len(layers) - 1 else out
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [mm]))
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [mm], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SIZES[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SIZES[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def ort_session(layers, calib, folder):
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": c[None]} for c in calib])

        def get_next(self):
            return next(self.it, None)

    f32, q8 = os.path.join(folder, "mlp.onnx"), os.path.join(folder, "mlp_int8.onnx")
    onnx_model(layers, f32)
    quantize_static(f32, q8, Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(q8, so, providers=["CPUExecutionProvider"])


def qmodel(layers, calib, path):
    """The same MLP quantized with numpy: asymmetric int8 activations from the calibration
    min/max, symmetric per-channel int8 weights, bias with the zero point folded in."""
    from qengine import quant as Q
    from qengine.builder import GraphBuilder

    acts = forward(layers, calib)
    qa = []
    for a in acts:
        lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
        s = (hi - lo) / 255.0
        qa.append((s, int(np.clip(round(-128 - lo / s), -128, 127))))
    g = GraphBuilder()
    g.input("x", (1, SIZES[0]), *qa[0])
    prev = "x"
    for i, (w, b) in enumerate(layers):
        (s_in, z_in), (s_out, z_out) = qa[i], qa[i + 1]
        s_w = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0             # per channel
        wq = np.clip(np.round(w.T / s_w[:, None]), -127, 127).astype(np.int8)  # [N, K]
        bias = np.round(b / (s_in * s_w)).astype(np.int64)
        bias = (bias - z_in * wq.astype(np.int64).sum(1)).astype(np.int32)
        m0, sh = map(np.array, zip(*(Q.multiplier(s_in * sw / s_out) for sw in s_w)))
        out = g.value(f"h{i}", (1, SIZES[i + 1]), s_out, z_out)
        relu = i < len(layers) - 1
        g.node("FullyConnected", f"fc{i}", [prev], [out],
               dict(weight=wq, bias=bias, m0=m0.astype(np.int32), sh=sh.astype(np.int32)),
               qmin=z_out if relu else -128, qmax=127)
        prev = out
    g.output(prev)
    return g.save(path)


def per_call_us(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def main(argv=None):
    import onnxruntime as ort

    import qengine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args(argv)

    logging.getLogger().setLevel(logging.ERROR)  # quantize_static's pre-processing hint
    layers = float_mlp()
    rng = np.random.default_rng(1)
    calib = rng.normal(0, 1, size=(256, SIZES[0])).astype(np.float32)
    x = rng.normal(0, 1, size=(1, SIZES[0])).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        sess = ort_session(layers, calib, tmp)
        m = qengine.load(qmodel(layers, calib, os.path.join(tmp, "mlp.qmodel")),
                         num_threads=1)
        xq = np.clip(np.floor(x / m.inputs[0].scale + 0.5) + m.inputs[0].zero_point,
                     -128, 127).astype(np.int8)
        want = forward(layers, x)[-1]
        y_ort, y_qe = sess.run(None, {"x": x})[0], m.run(x)
        contenders = {
            "qengine run(x)": lambda: m.run(x),
            "qengine run(x, raw=True)": lambda: m.run(xq, raw=True),
            "qengine run({'x': x})": lambda: m.run({"x": x}),
            "onnxruntime run": lambda: sess.run(None, {"x": x}),
        }
        for fn in contenders.values():
            per_call_us(fn, args.calls // 10)          # warm-up
        samples = {k: [] for k in contenders}
        for r in range(args.rounds):
            order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
            for k in order:
                samples[k].append(per_call_us(contenders[k], args.calls))
        compute = sum(row[3] for row in m.profile(x, runs=2000)) * 1e3

    med = {k: float(np.median(v)) for k, v in samples.items()}
    base = med["onnxruntime run"]
    print(f"MLP {' -> '.join(map(str, SIZES))}, batch 1, 1 thread, onnxruntime "
          f"{ort.__version__}, qengine {qengine.__version__} "
          f"({qengine.kernels.isa()['selected']}); median of {args.rounds} rounds of "
          f"{args.calls} calls")
    print(f"{'engine':<28} {'us/call':>8} {'vs ORT':>7}")
    for k, v in med.items():
        print(f"{k:<28} {v:8.2f} {v / base:6.2f}x")
    print(f"qengine compute (sum of the 3 steps, median per step): {compute:.2f} us")
    print(f"max |float - ORT| {np.abs(y_ort - want).max():.4f}, "
          f"max |float - qengine| {np.abs(y_qe - want).max():.4f}")


if __name__ == "__main__":
    main()
