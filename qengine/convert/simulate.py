"""A numpy integer simulation of a QGraph, to judge calibration before the runtime exists.

conv2d / dense follow DESIGN.md section 3 exactly (eq. 3 accumulation, int32 wrap, eq. 5
requantization), so their outputs are what the C kernels will return; add, mul and the
pools follow the integer formulas in quantize.py's docstring; unary ops use their LUTs;
softmax is computed in float on dequantized values. It may be replaced by the runtime.

    ys = simulate(qg, x)                   # {tensor: int8 array}, stored layout
    report = compare(graph, qg, x)         # per-layer SQNR vs the float teacher
"""
import numpy as np

from qengine.convert.executor import FloatExecutor, avg_pool_sum, conv2d, max_pool, pad_nhwc

QMIN, QMAX = -128, 127


def quantize(x, t):
    return np.clip(np.round(np.asarray(x, np.float64) / t.scale) + t.zero_point,
                   QMIN, QMAX).astype(np.int8)


def dequantize(q, t):
    return (t.scale * (q.astype(np.float64) - t.zero_point)).astype(np.float32)


def requant(acc, m0, sh, zo, qmin=QMIN, qmax=QMAX):
    """eq. 5, per channel on the last axis: int64 math, one rounding half up."""
    acc = np.asarray(acc, np.int64)
    acc = (acc + 2**31) % 2**32 - 2**31          # int32 accumulator wraps (eq. 3)
    m0 = np.asarray(m0, np.int64)
    sh = np.asarray(sh, np.int64)
    y = (acc * m0 + (np.int64(1) << (sh - 1))) >> sh
    return np.clip(y + zo, qmin, qmax).astype(np.int8)


def _run(q, ins, tin, tout, consts):
    a, x = q.attrs, ins[0]
    zo = tout.zero_point
    if q.op == "conv2d":
        acc = conv2d(x.astype(np.float64), q.weight.astype(np.float64), None, a["strides"],
                     a["pads"], a["dilations"], a["groups"], pad_value=a["pad_value"],
                     dtype=np.float64)
        return requant(acc.astype(np.int64) + q.bias, q.m0, q.sh, zo, q.qmin, q.qmax)
    if q.op == "dense":
        acc = x.astype(np.float64) @ q.weight.astype(np.float64).T
        return requant(acc.astype(np.int64) + q.bias, q.m0, q.sh, zo, q.qmin, q.qmax)
    if q.op == "add":
        da = ins[0].astype(np.int64) - tin[0].zero_point
        db = ins[1].astype(np.int64) - tin[1].zero_point
        sh = int(q.sh[0])
        y = (da * int(q.m0[0]) + db * int(q.m0[1]) + (1 << (sh - 1))) >> sh
        return np.clip(y + zo, q.qmin, q.qmax).astype(np.int8)
    if q.op == "mul":
        acc = (ins[0].astype(np.int64) - tin[0].zero_point) * (ins[1].astype(np.int64) - tin[1].zero_point)
        return requant(acc, q.m0, q.sh, zo)
    if q.lut is not None:
        return q.lut[x.astype(np.int64) + 128]
    if q.op == "global_avg_pool":
        acc = (x.astype(np.int64) - tin[0].zero_point).sum(axis=(1, 2), keepdims=a["keepdims"])
        return requant(acc, q.m0, q.sh, zo)
    if q.op == "avg_pool":
        s = avg_pool_sum(x.astype(np.float64) - tin[0].zero_point, a["kernel"], a["strides"],
                         a["pads"], 0.0, np.float64).astype(np.int64)
        full = a["kernel"][0] * a["kernel"][1]
        counts = a["counts"][None, :, :, None]
        if np.all(counts == full):
            return requant(s, q.m0, q.sh, zo)
        m = tin[0].scale / (tout.scale * counts)  # clipped windows: own divisor
        return np.clip(np.floor(s * m + 0.5) + zo, QMIN, QMAX).astype(np.int8)
    if q.op == "max_pool":
        return max_pool(x.astype(np.int16), a["kernel"], a["strides"], a["pads"],
                        fill=QMIN).astype(np.int8)
    if q.op == "concat":
        return np.concatenate(ins, axis=a["axis"])
    if q.op == "reshape":
        return x.reshape((x.shape[0],) + tuple(a["shape"][1:]))
    if q.op == "transpose":
        return np.ascontiguousarray(x.transpose(a["perm"]))
    if q.op == "pad":
        return pad_nhwc(x, a["pads"], a["pad_q"])
    if q.op == "softmax":
        f = dequantize(x, tin[0]).astype(np.float64)
        e = np.exp(f - f.max(axis=a["axis"], keepdims=True))
        return quantize(e / e.sum(axis=a["axis"], keepdims=True), tout)
    raise ValueError(f"simulate: op {q.op!r} ({q.name})")


def simulate(qg, x, keep="all", quantized_input=False):
    """Run QGraph `qg` on float input `x` (stored layout; array or {name: array}),
    quantizing it on entry. Returns {tensor: int8 array} (all tensors by default)."""
    if not isinstance(x, dict):
        x = {qg.inputs[0]: x}
    env = {}
    for name in qg.inputs:
        env[name] = np.asarray(x[name]) if quantized_input else quantize(x[name], qg.tensors[name])
    env.update(qg.consts)
    for q in qg.nodes:
        ins = [env[i] for i in q.inputs]
        env[q.outputs[0]] = _run(q, ins, [qg.tensors[i] for i in q.inputs],
                                 qg.tensors[q.outputs[0]], qg.consts)
    if keep == "all":
        return {k: v for k, v in env.items() if k not in qg.consts}
    return {k: env[k] for k in set(keep) | set(qg.outputs)}


def sqnr_db(ref, got):
    """10 log10(sum ref^2 / sum (ref - got)^2); inf when equal."""
    ref = np.asarray(ref, np.float64)
    err = np.sum((ref - np.asarray(got, np.float64)) ** 2)
    sig = np.sum(ref ** 2)
    if err == 0:
        return float("inf")
    return float(10 * np.log10(max(sig, 1e-30) / err))


def compare(graph, qg, x):
    """Per-layer rows {name, op, scale, zero_point, sqnr_db} of the simulated int8 graph
    vs the float teacher on stored-layout input `x`, plus the outputs of both."""
    teacher = FloatExecutor(graph).run(x, keep="all")
    sim = simulate(qg, x)
    rows = []
    for q in qg.nodes:
        t = qg.tensors[q.outputs[0]]
        rows.append({"name": q.name, "op": q.op, "scale": t.scale, "zero_point": t.zero_point,
                     "sqnr_db": sqnr_db(teacher[q.outputs[0]], dequantize(sim[q.outputs[0]], t))})
    outs = {o: (teacher[o], dequantize(sim[o], qg.tensors[o])) for o in qg.outputs}
    return rows, outs
