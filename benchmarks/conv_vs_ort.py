"""qengine int8 convolution vs ONNX Runtime int8 (QLinearConv) vs float32 im2col + numpy.

    python -m benchmarks.conv_vs_ort [--runs 21] [--only mobilenet_v2_conv] [--filter dw]

Layer by layer, in one process, one thread everywhere, the three engines interleaved
(one call each per round) so machine noise hits them alike; prints medians and ratios.
ONNX Runtime runs a one-node QLinearConv model: u8 activations, s8 per-channel weights,
int32 bias, one intra-op thread. Benchmark-only dependencies: onnx, onnxruntime.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-threaded BLAS for the float baseline

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.shapes import read_conv_shapes  # noqa: E402
from qengine import kernels as K  # noqa: E402


def make_layer(rng, L):
    c, o, g = L["c"], L["o"], L["groups"]
    x = rng.integers(-128, 128, size=(1, L["h"], L["w"], c), dtype=np.int8)
    w = rng.integers(-127, 128, size=(o, L["kh"], L["kw"], c // g), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=o).astype(np.int32)
    k = L["kh"] * L["kw"] * c // g
    scale = 1.0 / (64.0 * np.sqrt(k) * 60)  # output roughly within int8
    m, e = np.frexp(np.full(o, scale))
    m0 = np.round(m * 2**31).astype(np.int64)
    sh = (31 - e).astype(np.int32)
    return x, w, bias, m0.astype(np.int32), sh, np.full(o, scale, np.float32)


def ort_session(L, w, bias, w_scale):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    s, p = L["stride"], L["padding"]
    w_nchw = np.ascontiguousarray(w.transpose(0, 3, 1, 2))
    inits = [
        numpy_helper.from_array(np.array(1.0, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "x_zp"),
        numpy_helper.from_array(w_nchw, "w"),
        numpy_helper.from_array(w_scale.astype(np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(L["o"], np.int8), "w_zp"),
        numpy_helper.from_array(np.array(1.0, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "y_zp"),
        numpy_helper.from_array(bias, "bias"),
    ]
    node = helper.make_node(
        "QLinearConv", ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp",
                        "bias"], ["y"], kernel_shape=[L["kh"], L["kw"]], strides=[s, s],
        pads=[p[0], p[1], p[2], p[3]], group=L["groups"], dilations=[1, 1])
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                       [1, L["c"], L["h"], L["w"]])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess


def float_conv(L, xf, wf):
    """float32 im2col (one copy) + numpy matmul; depthwise as a per-channel contraction."""
    kh, kw, s, (pt, pl, pb, pr), g = L["kh"], L["kw"], L["stride"], L["padding"], L["groups"]
    xp = np.pad(xf, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::s, ::s]
    cols = np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3))  # [1, Ho, Wo, kh, kw, C]
    if g == 1:
        return cols.reshape(-1, kh * kw * L["c"]) @ wf
    return np.einsum("mtc,tc->mc", cols.reshape(-1, kh * kw, L["c"]), wf)


def bench_layer(rng, L, runs):
    x, w, bias, m0, sh, w_scale = make_layer(rng, L)
    pad = L["padding"]
    packed = K.pack_conv2d(w, bias, m0, sh, stride=L["stride"], padding=pad,
                           groups=L["groups"], pad_value=0)
    sess = ort_session(L, w, bias, w_scale)
    x_u8 = np.ascontiguousarray((x.astype(np.int16) + 128).astype(np.uint8).transpose(0, 3, 1, 2))
    xf = x.astype(np.float32)
    if L["groups"] == 1:
        wf = np.ascontiguousarray(w.reshape(L["o"], -1).T.astype(np.float32))
    else:
        wf = np.ascontiguousarray(w.reshape(L["o"], -1).T.astype(np.float32))  # [taps, C]
    engines = {
        "qengine": lambda: packed.run(x, 0, -128, 127, 1),
        "ort": lambda: sess.run(None, {"x": x_u8}),
        "float": lambda: float_conv(L, xf, wf),
    }
    times = {k: [] for k in engines}
    for name, fn in engines.items():  # warm-up
        fn()
    for _ in range(runs):
        for name, fn in engines.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items()}, packed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--only", choices=["mobilenet_v2_conv", "resnet18_conv"])
    ap.add_argument("--filter", default="", help="substring of the layer label")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"qengine ISA {K.isa()['selected']}; 1 thread; medians of {args.runs} interleaved "
          f"runs; ratio = other / qengine (> 1: qengine faster)")
    hdr = (f"{'layer':44s} {'kernel':44s} {'qengine':>8s} {'ort i8':>8s} {'f32':>8s} "
           f"{'ort/qe':>7s} {'f32/qe':>7s}")
    print(hdr)
    print("-" * len(hdr))
    names = [args.only] if args.only else ["mobilenet_v2_conv", "resnet18_conv"]
    for name in names:
        for label, L in read_conv_shapes(name):
            if args.filter not in label:
                continue
            ms, packed = bench_layer(rng, L, args.runs)
            print(f"{label:44s} {packed.kernel_name:44s} {ms['qengine']:8.3f} {ms['ort']:8.3f} "
                  f"{ms['float']:8.3f} {ms['ort'] / ms['qengine']:7.2f} "
                  f"{ms['float'] / ms['qengine']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
